from rest_framework.routers import DefaultRouter

from .views_mbr import MasterBatchRecordViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("master-batch-records", MasterBatchRecordViewSet, basename="masterbatchrecord")

urlpatterns = router.urls
