"""Federated classification of images and tables."""
