"""Each head's step function and its library entry points, on top of the shared loop."""
