"""Click-through-rate models over CTR rows (bags with one field=value token per field)."""

from whyrec.models.ctr.model import CTRModel
from whyrec.models.ctr.modules import ARCHITECTURES

__all__ = ["ARCHITECTURES", "CTRModel"]
