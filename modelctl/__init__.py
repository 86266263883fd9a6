"""modelctl: declarative, verified model assets for ComfyUI stacks."""

__version__ = "0.1.0"
