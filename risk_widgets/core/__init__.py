"""Reading a Keras model: the layer walk and its paths, target resolution, CompositeLayer,
the patch parameters' table and every Keras internal the package touches.

The lowest layer: it imports nothing else from the package (docs/architecture.md, "Layers").
"""
