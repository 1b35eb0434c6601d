"""Models served by Pixelrun, one package per model."""
