from django.urls import path

from tips import views

urlpatterns = [
    path("sent/", views.sent, name="tips-sent"),
    path("received/", views.received, name="tips-received"),
]
