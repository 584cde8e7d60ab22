"""Every loss in artgen.losses against values worked out by hand."""

import math

import pytest
import torch

from artgen import losses


def test_mse_by_hand():
    y = torch.tensor([1.0, 2.0, 3.0])
    y_hat = torch.tensor([1.5, 2.0, 1.0])
    # ((-0.5)^2 + 0 + 2^2) / 3 = 4.25 / 3
    assert losses.mse(y_hat, y).item() == pytest.approx(4.25 / 3)


def test_cross_entropy_on_probabilities_matches_definition():
    q = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    p = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    expected = (-math.log(0.7) + -(0.5 * math.log(0.1) + 0.5 * math.log(0.8))) / 2
    assert losses.cross_entropy(q, p, from_logits=False).item() == pytest.approx(expected, rel=1e-6)
    # class indices give the same as one-hot targets
    idx = torch.tensor([0, 2])
    assert losses.cross_entropy(q, idx, from_logits=False).item() == pytest.approx(
        (-math.log(0.7) - math.log(0.8)) / 2, rel=1e-6
    )


def test_cross_entropy_on_logits_equals_softmax_then_probabilities():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    e = [math.exp(2.0), 1.0, math.exp(-1.0)]
    expected = -math.log(e[0] / sum(e))
    assert losses.cross_entropy(logits, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_gan_losses_by_hand():
    real = torch.tensor([2.0, -1.0])
    fake = torch.tensor([0.5, -3.0])
    softplus = lambda v: math.log1p(math.exp(v))
    d_ns = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    assert losses.gan_d_loss(real, fake, "nonsaturating").item() == pytest.approx(d_ns, rel=1e-6)
    assert losses.gan_g_loss(fake, "nonsaturating").item() == pytest.approx(
        (softplus(-0.5) + softplus(3.0)) / 2, rel=1e-6
    )
    # hinge: relu(1 - real) = [0, 2], relu(1 + fake) = [1.5, 0]
    assert losses.gan_d_loss(real, fake, "hinge").item() == pytest.approx(1.0 + 0.75)
    assert losses.gan_g_loss(fake, "hinge").item() == pytest.approx(-(0.5 - 3.0) / 2)
    with pytest.raises(ValueError):
        losses.gan_d_loss(real, fake, "wasserstein")


def test_r1_penalty_of_a_linear_critic():
    # D(x) = sum(w * x): the gradient is w for every sample, so R1 = ||w||^2
    w = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    x = torch.randn(3, 1, 2, 2, requires_grad=True)
    logits = (x * w).flatten(1).sum(1)
    assert losses.r1_penalty(logits, x).item() == pytest.approx(1.0 + 4.0 + 0.25)


def test_gram_matrix_by_hand():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2)
    g = losses.gram_matrix(f)
    # [[1+4, 3+8], [3+8, 9+16]] / (C*H*W = 4)
    assert torch.allclose(g, torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4)


def test_content_and_style_loss_by_hand():
    a = torch.zeros(1, 2, 1, 2)
    b = torch.ones(1, 2, 1, 2)
    assert losses.content_loss(a, b).item() == pytest.approx(1.0)
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    target = torch.zeros(1, 2, 2)
    gram = torch.tensor([5.0, 11.0, 11.0, 25.0]) / 4
    expected = float((gram**2).mean())
    assert losses.style_loss([f], [target]).item() == pytest.approx(expected)
    assert losses.style_loss([f, f], [target, target], [1.0, 0.5]).item() == pytest.approx(1.5 * expected)
    assert losses.style_loss([f], [losses.gram_matrix(f)]).item() == pytest.approx(0.0)


def test_tv_loss_by_hand():
    img = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs: 2, 3 -> mean(4, 9) = 6.5; horizontal diffs: 1, 2 -> mean(1, 4) = 2.5
    assert losses.tv_loss(img).item() == pytest.approx(9.0)
    assert losses.tv_loss(torch.ones(1, 3, 5, 5)).item() == 0.0


def test_accuracy_and_lookup():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert losses.accuracy(logits, torch.tensor([1, 0, 0])).item() == pytest.approx(2 / 3)
    assert losses.get_loss("categorical_crossentropy") is losses.cross_entropy
    assert losses.get_loss("mse") is losses.mse
    with pytest.raises(ValueError):
        losses.get_loss("hamming")


def test_cross_entropy_index_and_one_hot_targets_agree_on_logits():
    logits = torch.randn(6, 4)
    idx = torch.tensor([0, 3, 1, 1, 2, 0])
    one_hot = torch.nn.functional.one_hot(idx, 4).float()
    assert losses.cross_entropy(logits, idx).item() == pytest.approx(
        losses.cross_entropy(logits, one_hot).item(), rel=1e-6
    )


def test_cross_entropy_with_grad_equals_autograd():
    torch.manual_seed(3)
    logits = (torch.randn(7, 5) * 4).requires_grad_()
    target = torch.tensor([0, 4, 2, 2, 1, 3, 0])
    loss, grad = losses.cross_entropy_with_grad(logits.detach(), target)
    reference = losses.cross_entropy(logits, target)
    reference.backward()
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)
    assert torch.allclose(grad, logits.grad, atol=1e-7)
    # by hand: each row of the gradient sums to zero and is negative only at the target
    assert torch.allclose(grad.sum(1), torch.zeros(7), atol=1e-7)
    assert torch.equal(grad < 0, torch.nn.functional.one_hot(target, 5).bool())


def test_correct_marks_each_row():
    logits = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert losses.correct(logits, torch.tensor([1, 0, 0])).tolist() == [True, True, False]


def test_gram_matrix_of_channels_last_features_is_the_same():
    features = torch.randn(1, 6, 5, 7)
    channels_last = features.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(losses.gram_matrix(channels_last), losses.gram_matrix(features), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mse_on_probabilities_equals_the_formula_bit_for_bit(dtype):
    gen = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(8, 10, generator=gen)).to(dtype).requires_grad_()
    idx = torch.randint(0, 10, (8,), generator=gen)
    soft = torch.softmax(torch.randn(8, 10, generator=gen), dim=-1)
    probs = torch.softmax(logits.float(), dim=-1)
    for target, dense in ((idx, torch.nn.functional.one_hot(idx, 10).float()), (soft, soft)):
        want = torch.nn.functional.mse_loss(probs, dense)
        got = losses.mse_on_probabilities(logits, target)
        assert got.dtype == torch.float32 and torch.equal(got, want)
        (g_got,) = torch.autograd.grad(got, logits)
        (g_want,) = torch.autograd.grad(want, logits, retain_graph=True)
        assert torch.equal(g_got, g_want)
    # by hand: equal logits -> probabilities (0.5, 0.5) against (1, 0) -> mean(0.25, 0.25)
    assert losses.mse_on_probabilities(torch.zeros(1, 2), torch.tensor([0])).item() == 0.25


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_normalised_content_loss_equals_the_formula_bit_for_bit(dtype):
    gen = torch.Generator().manual_seed(1)
    shapes = [(2, 8, 12, 12), (2, 16, 6, 6)]
    feats = [torch.randn(s, generator=gen).to(dtype).requires_grad_() for s in shapes]
    targets = [(2 * torch.randn(s, generator=gen)).to(dtype) for s in shapes]
    want = torch.zeros((), dtype=torch.float32)
    for f, t in zip(feats, targets):
        t = t.float()
        want = want + torch.nn.functional.mse_loss(f.float(), t) / t.pow(2).mean().clamp_min(1e-12)
    want = want / len(feats)
    got = losses.normalised_content_loss(feats, targets)
    assert got.dtype == torch.float32 and torch.equal(got, want)
    g_got = torch.autograd.grad(got, feats)
    g_want = torch.autograd.grad(want, feats)
    assert all(torch.equal(a, b) for a, b in zip(g_got, g_want))


def test_normalised_content_loss_by_hand():
    # layer 1: error 1 against a target of mean square 1 -> 1; layer 2: error 4 against 4 -> 1; mean 1
    ones = torch.ones(1, 2, 2, 2)
    assert losses.normalised_content_loss([0 * ones, 0 * ones], [ones, 2 * ones]).item() == 1.0
    # an all-zero target is floored at 1e-12 instead of dividing by zero
    assert losses.normalised_content_loss([ones], [0 * ones]).item() == pytest.approx(1e12)
    assert losses.normalised_content_loss([ones], [ones]).item() == 0.0
    with pytest.raises(ValueError):
        losses.normalised_content_loss([ones, ones], [ones])
    with pytest.raises(ValueError):
        losses.normalised_content_loss([], [])
