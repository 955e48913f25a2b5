"""Datasets as `PairSet`s: the embedded Twemoji pairs and user folders of images with captions."""
from .folder import load_image_caption_folder
from .pairs import PairSet
from .splits import family_split
from .twemoji import load_twemoji

__all__ = ["PairSet", "family_split", "load_image_caption_folder", "load_twemoji"]
