from rest_framework.routers import DefaultRouter

from .views_batches import BatchDeviationViewSet, BatchRecordViewSet, BatchStepViewSet
from .views_execution import BatchEquipmentViewSet, BatchMaterialViewSet
from .views_mbr import MasterBatchRecordViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("master-batch-records", MasterBatchRecordViewSet, basename="masterbatchrecord")
router.register("batch-records", BatchRecordViewSet, basename="batchrecord")
router.register("batch-steps", BatchStepViewSet, basename="batchstep")
router.register("batch-deviations", BatchDeviationViewSet, basename="batchdeviation")
router.register("batch-materials", BatchMaterialViewSet, basename="batchmaterial")
router.register("batch-equipment", BatchEquipmentViewSet, basename="batchequipment")

urlpatterns = router.urls
