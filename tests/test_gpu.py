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
