from django.urls import path

from logistics import views

app_name = "tracking"

urlpatterns = [
    path("", views.track, name="track"),
    path("o/<str:token>/", views.track_link, name="link"),
    path("o/<str:token>/certificate.pdf", views.track_certificate, name="certificate"),
]
