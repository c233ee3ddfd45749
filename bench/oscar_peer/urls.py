"""No pages: the bench only places orders."""

urlpatterns = []
