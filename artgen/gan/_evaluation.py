"""Evaluating a GAN: FID/KID on the standard Inception features (or the labelled fallback), precision/recall,
memorisation, and class agreement for conditional GANs."""

from __future__ import annotations

import torch

from ..data import fit_images
from ..errors import ArgumentError, UsageError
from .config import CLASS_SEED_STRIDE, EVAL_SEED_OFFSET, HEAD, KID_SUBSET_SIZE

#: Precision and recall are reported from this many real and generated images up: with fewer, the
#: k-nearest-neighbour balls cover most of feature space (an untrained GAN scored precision 1.0
#: against 4 real images, 0.2 against 5 and 0.0 from 6 up).
PR_MIN_IMAGES = 50


def evaluate_gan(
    gan,
    real,
    *,
    num_samples=1000,
    features="auto",
    inception_weights=None,
    seed=0,
    classifier=None,
    device="cpu",
    real_labels=None,
    nearest_sheet=None,
    k=3,
):
    """Sample quality, diversity and memorisation of ``gan`` against ``real`` uint8 images ``(N, C, H, W)``; a dict.

    * With the standard TF-Inception features (see :mod:`artgen.metrics`):
      ``fid``, ``kid`` and ``kid_std``.  With the fallback features the same
      distances are ``fallback_fd``/``fallback_kd``/``fallback_kd_std``: never FID/KID.
    * Diversity: ``precision`` and ``recall`` (Kynkäänniemi et al. 2019, ``k``
      nearest neighbours; recall near 0 means collapse), or ``diversity_note``
      saying why they could not be computed.  For a conditional GAN with
      ``real_labels``: ``class_spread`` (mean over classes of the per-pixel
      standard deviation across that class's samples, in [0, 0.5]) and
      ``real_class_spread``, the same for the real images.  For colour images:
      ``colour_spread`` and ``real_colour_spread`` (:func:`artgen.metrics.colour_spread`,
      the spread of per-image mean colours: low when every sample shares one palette).
    * Memorisation: ``nn_distance_median`` (feature distance from each sample
      to its nearest training image) against ``real_nn_distance_median``
      (training images to their nearest other training image), and their ratio
      ``memorisation_ratio`` (well below 1: samples sit on training images).
      With ``nearest_sheet`` a PNG of the 16 closest samples, each beside its
      nearest training image, is written there.
    * With a ``classifier``: ``class_accuracy`` (conditional GANs).

    Samples come from seeds ``seed + EVAL_SEED_OFFSET + i``; KID uses subsets of
    :data:`KID_SUBSET_SIZE` (fewer when there are fewer images).

    Raises:
        ArgumentError: ``num_samples < 2``.
        UsageError: an unknown ``features`` choice, or Inception weights that are not available
            offline; ``classifier`` for an unconditional GAN or with another number of classes.
    """
    from .. import metrics

    if num_samples < 2:
        raise ArgumentError("num_samples", f"must be at least 2, got {num_samples}")
    feat, name = metrics.feature_network(features, weights=inception_weights, device=device)
    fake = gan.generate(num_samples, seed=seed + EVAL_SEED_OFFSET)  # (M, C, H, W) in [0, 1], classes cycling
    real_f = metrics.extract(feat, real)
    fake_f = metrics.extract(feat, fake)
    subset_size = min(KID_SUBSET_SIZE, len(real_f), len(fake_f))
    mean, std = metrics.kid(real_f, fake_f, subset_size=subset_size, seed=seed)
    out = {"features": name, "real_images": len(real), "generated_images": num_samples, "subset_size": subset_size}
    if metrics.is_standard(name):
        out.update(fid=metrics.fid(real_f, fake_f), kid=mean, kid_std=std)
    else:
        out.update(fallback_fd=metrics.fid(real_f, fake_f), fallback_kd=mean, fallback_kd_std=std)
    if min(len(real_f), len(fake_f)) >= PR_MIN_IMAGES:
        out["precision"], out["recall"] = metrics.precision_recall(real_f, fake_f, k=k)
    else:
        out["diversity_note"] = (
            f"precision/recall need at least {PR_MIN_IMAGES} real and {PR_MIN_IMAGES} generated images "
            f"(got {len(real_f)} and {len(fake_f)}): with fewer, each image's {k}-nearest-neighbour ball spans most of the set and the values mean nothing"
        )
    c = gan.config
    if c.channels in (3, 4) and num_samples >= 2 and len(real) >= 2:
        out["colour_spread"] = metrics.colour_spread(fake)
        out["real_colour_spread"] = metrics.colour_spread(real.float() / 255.0)
    if c.conditional and real_labels is not None:
        gen_labels = gan.labels(num_samples, None)
        out["class_spread"] = metrics.pixel_spread(fake, gen_labels)
        out["real_class_spread"] = metrics.pixel_spread(real.float() / 255.0, real_labels)
    dist, index, real_nn = metrics.nearest_neighbours(fake_f, real_f)
    if len(real_f) > 1:
        out["nn_distance_median"] = float(dist.median())
        out["real_nn_distance_median"] = float(real_nn.median())
        out["memorisation_ratio"] = out["nn_distance_median"] / max(out["real_nn_distance_median"], 1e-12)
    if nearest_sheet is not None:
        from ..images import make_grid, on_checkerboard, save_image

        order = dist.argsort()[:16]
        pairs = on_checkerboard(
            torch.stack([t for i in order.tolist() for t in (fake[i], real[int(index[i])].float() / 255.0)])
        )
        meta = {
            "head": HEAD,
            "sheet": "generated sample | nearest training image (feature space), closest first",
            "features": name,
        }
        save_image(make_grid(pairs, nrow=8), nearest_sheet, metadata=meta, overwrite=True)
        out["nearest_sheet"] = str(nearest_sheet)
    if classifier is not None:
        out["class_accuracy"] = class_agreement(
            gan, classifier, per_class=max(1, num_samples // max(gan.config.num_classes, 1)), seed=seed
        )
    return out


def class_agreement(gan, classifier, *, per_class: int = 100, seed: int = 0) -> float:
    """Fraction in [0, 1] of class-conditional samples that ``classifier`` assigns to the requested class.

    ``per_class`` samples per class, resized to the classifier's input (:func:`artgen.data.fit_images`).

    Raises:
        UsageError: the GAN is unconditional, or the class counts differ.
    """
    if not gan.config.conditional:
        raise UsageError("{arg:classifier} needs a class-conditional GAN (trained with {arg:conditional=True})")
    cc = classifier.config
    if cc.num_classes != gan.config.num_classes:
        raise UsageError(f"the classifier knows {cc.num_classes} classes, the GAN {gan.config.num_classes}")
    correct = total = 0
    for k in range(gan.config.num_classes):
        x = fit_images(
            gan.generate(per_class, seed=seed + k * CLASS_SEED_STRIDE, class_=k), cc.image_size, cc.in_channels
        )
        pred = classifier.predict(x).argmax(-1)
        correct += int((pred == k).sum())
        total += len(x)
    return correct / total
