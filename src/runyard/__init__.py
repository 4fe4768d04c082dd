"""Runyard: a self-hosted platform for decision models that speaks the Nextmv Cloud API."""

__version__ = "0.1.0"
