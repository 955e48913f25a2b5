"""Datasets as `PairSet`s: the embedded Twemoji pairs and every form researchers hold their data in
(`load_dataset` / `load_splits` take one spec syntax: see `vlr_viz.data.registry`)."""
from .feature_arrays import Features
from .folder import load_image_caption_folder
from .pairs import PairSet
from .registry import DatasetOptions, load_dataset, load_splits
from .sources import ArrayImages, FileImages, ImageSource, TarImages, image_source
from .splits import family_split, fraction_split
from .twemoji import load_twemoji

__all__ = ["ArrayImages", "DatasetOptions", "Features", "FileImages", "ImageSource", "PairSet", "TarImages",
           "family_split", "fraction_split", "image_source", "load_dataset", "load_image_caption_folder",
           "load_splits", "load_twemoji"]
