"""The networks: style-network architectures (a registry of them), the VGG19 loss network, the torch device.
Nets know nothing of files."""
