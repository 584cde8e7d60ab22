"""Saving and loading, in one package: run folders and everything written into them.

- :mod:`~artgen.runs.atomic`: atomic writes (temp file in the same folder, then ``os.replace``).
- :mod:`~artgen.runs.weights`: safetensors weights, checked before they are loaded; the one ``save_weights``.
- :mod:`~artgen.runs.folder`: :class:`~artgen.runs.folder.RunDir`, a run folder (``config.json``,
  ``model.safetensors``, ``training_state.pt``), its lock, and replacing an old run safely.
- :mod:`~artgen.runs.config`: the base of every head's config dataclass, the checked reading of a stored
  section, and the one migration path of older ``config.json`` shapes.
- :mod:`~artgen.runs.setup`: one start-up sequence for every training run, ``save_pretrained`` and
  ``from_pretrained``.

The package imports none of them itself, so writing a file costs no more imports than it needs.
"""
