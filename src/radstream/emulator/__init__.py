"""The embedded target: an emulator process of ours around moto's server (see ``server``)."""
