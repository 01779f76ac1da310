"""Data layer: FeatureSpace, Dataset, profiles (bags of tokens), loaders and splits."""

from whyrec.data.dataset import Dataset
from whyrec.data.features import FeatureSpace, Field
from whyrec.data.movielens import load_movielens
from whyrec.data.options import DataOptions
from whyrec.data.profiles import Profile, build_profiles
from whyrec.data.spec import load_spec
from whyrec.data.splits import Split, split, with_cold_start
from whyrec.data.synthetic import SyntheticData, synthetic
from whyrec.data.tables import read_table

__all__ = [
    "DataOptions",
    "Dataset",
    "FeatureSpace",
    "Field",
    "Profile",
    "Split",
    "SyntheticData",
    "build_profiles",
    "load_movielens",
    "load_spec",
    "read_table",
    "split",
    "synthetic",
    "with_cold_start",
]
