"""Greedy layer-wise pretraining (pure JAX): RBMs (rbm.py), (denoising) autoencoders (autoencoder.py), their
shared minibatch epoch loop (epochs.py) and the layer-wise stack (layerwise.py). The training loop calls it
through research/train/pretraining_stage.py."""
