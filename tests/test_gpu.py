"""Checks that need a CUDA GPU (skipped elsewhere; scripts/gpu_check.sh runs them)."""

import pytest
import torch

import artgen
from artgen.data import make_shapes

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_classifier_trains_on_cuda(precision):
    x, y = make_shapes(4096, seed=0)
    clf = artgen.Classifier(device="cuda", seed=0)
    clf.compile("adam", "cross_entropy", ["accuracy"])
    history = clf.fit(x, y, epochs=3, batch_size=32, precision=precision, progress=False)
    assert history["loss"][-1] < history["loss"][0]
    assert clf.model.hidden.weight.device.type == "cuda"


def test_cuda_and_cpu_agree_on_a_forward_pass():
    clf = artgen.Classifier(device="cuda", seed=0)
    x = torch.rand(8, 1, 28, 28)
    cpu = artgen.Classifier(device="cpu", seed=0)
    assert torch.allclose(clf.predict(x), cpu.predict(x), atol=1e-4)


def test_classifier_fast_path_matches_autograd_on_cuda():
    import copy

    from artgen import losses
    from artgen.classifier.networks import DenseClassifier

    torch.manual_seed(0)
    fast = DenseClassifier().cuda()
    slow = copy.deepcopy(fast)
    x, y = torch.rand(32, 1, 28, 28, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    loss, _ = fast.cross_entropy_backward(x, y)
    reference = losses.cross_entropy(slow(x), y)
    reference.backward()
    assert torch.allclose(loss, reference, atol=1e-5)
    for a, b in zip(fast.parameters(), slow.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-5)


def test_stylize_defaults_to_bf16_channels_last_on_cuda():
    from artgen import style_transfer as S
    from artgen.encoders import build_random_encoder

    layers = ("relu1_1", "relu2_1", "relu3_1")
    enc = build_random_encoder(layers)
    content, style = torch.rand(3, 64, 64), torch.rand(3, 64, 64)
    before = torch.backends.cudnn.benchmark
    out, settings = S.stylize_tensor(
        content,
        style,
        S.StyleConfig(
            size=64,
            steps=5,
            levels=1,
            backbone="random",
            device="cuda",
            progress=False,
            style_layers=layers,
            content_layers=("relu3_1",),
        ),
        encoder=enc,
    )
    assert torch.backends.cudnn.benchmark == before  # the library does not change the process-wide setting
    assert settings["precision"] == ("bf16" if torch.cuda.is_bf16_supported() else "fp32")
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    # the memory format the test names: the encoder runs channels-last on CUDA, its convolutions' weights too
    assert enc.memory_format == torch.channels_last
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
