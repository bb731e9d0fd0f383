from .batch import BatchRecord, BatchStep
from .execution import BatchDeviation, BatchEquipment, BatchMaterial
from .mbr import MasterBatchRecord

__all__ = [
    "BatchDeviation",
    "BatchEquipment",
    "BatchMaterial",
    "BatchRecord",
    "BatchStep",
    "MasterBatchRecord",
]
