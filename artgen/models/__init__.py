"""Model definitions. Models never import the training code."""
