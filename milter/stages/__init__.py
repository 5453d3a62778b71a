"""The pipeline's stages, one module each, composed in milter/runtime.py."""
