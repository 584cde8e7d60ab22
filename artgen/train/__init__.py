"""The one training loop every head runs on.

One job per module, every public name re-exported here: :mod:`~artgen.train.task` (what a head
provides), :mod:`~artgen.train.batches` (data sources), :mod:`~artgen.train.callbacks`
(History, callbacks, progress, curves), :mod:`~artgen.train.loop` (the :class:`Trainer`).

The loop owns iteration, devices, precision, progress, logging, checkpoints,
signals and resume. A head supplies a :class:`Task`: the modules and optimizers it
trains and a ``train_step(batch, ctx)`` that computes its losses and applies its
own optimizer update(s) through ``ctx``. That one interface covers all three heads:

* **Supervised (the classifier)** — one optimizer::

      def train_step(self, batch, ctx):
          x, y = batch
          with ctx.autocast():
              logits = self.model(x)
          loss = losses.cross_entropy(logits, y)
          ctx.optimize(loss, self.optimizer)          # zero_grad, backward, step
          return {"loss": loss, "accuracy": losses.accuracy(logits, y)}

* **GAN** — two optimizers, two updates per step, in the order the head chooses::

      def train_step(self, real, ctx):
          with ctx.autocast():
              d_loss = losses.gan_d_loss(D(real), D(G(z).detach()))
          ctx.optimize(d_loss, self.opt_d)
          with ctx.autocast():
              g_loss = losses.gan_g_loss(D(G(z)))
          ctx.optimize(g_loss, self.opt_g)
          return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss}

  (with fp16 the loop's single GradScaler serves both optimizers and is updated once
  per step, after ``train_step`` returns).

* **Optimising an image (style transfer)** — the "module" is a parameter holding
  the image, the data source yields ``None`` ``steps`` times (:class:`Repeat`), and
  the step may call ``optimizer.step(closure)`` itself, which is how L-BFGS works::

      def train_step(self, _, ctx):
          def closure():
              self.optimizer.zero_grad()
              loss = self.objective(self.image.pixels)
              loss.backward()
              return loss
          loss = self.optimizer.step(closure)
          return {"loss": loss}

``train_step`` returns a dict of scalars; ``"loss"`` is required and is checked for
NaN/inf. A value may also be a 1-D tensor of per-sample values (the classifier's
right/wrong per image), whose mean is the step's value: the loop averages many steps
of them at once. Every value is averaged per epoch into :class:`History` and logged at
``log_every`` steps. Values are kept on the device and read back in groups, so the
loop does not force a device synchronisation every step.
"""

from __future__ import annotations

from .batches import (
    EPOCH_SEED_STRIDE,
    SEED_STREAM_OFFSET,
    BatchSource,
    DatasetBatches,
    Repeat,
    TensorBatches,
    check_shardable,
    epoch_generator,
    to_device,
)
from .callbacks import Callback, CurvePlot, History, LambdaCallback, ProgressBar, show_progress
from .loop import Trainer
from .task import StepContext, Task

__all__ = [
    "EPOCH_SEED_STRIDE",
    "SEED_STREAM_OFFSET",
    "BatchSource",
    "DatasetBatches",
    "Repeat",
    "TensorBatches",
    "check_shardable",
    "epoch_generator",
    "to_device",
    "Callback",
    "CurvePlot",
    "History",
    "LambdaCallback",
    "ProgressBar",
    "show_progress",
    "Trainer",
    "StepContext",
    "Task",
]
