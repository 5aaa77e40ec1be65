from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("", views.index, name="index"),
    path("temporary/", views.temporary, name="temporary"),
    path("temporary/stream/", views.temporary_stream, name="temporary_stream"),
    path("memory/", views.memory, name="memory"),
    path("memory/<uuid:public_id>/", views.memory_edit, name="memory_edit"),
    path("memory/<uuid:public_id>/delete/", views.memory_delete, name="memory_delete"),
    path("messages/<uuid:public_id>/sent/", views.message_sent, name="message_sent"),
    path("messages/<uuid:public_id>/symptom/", views.symptom_add, name="symptom_add"),
    path("messages/<uuid:public_id>/dose/", views.dose_add, name="dose_add"),
    path("<uuid:public_id>/", views.conversation, name="conversation"),
    path("<uuid:public_id>/send/", views.send, name="send"),
    path("<uuid:public_id>/stream/", views.stream, name="stream"),
    path("<uuid:public_id>/rename/", views.conversation_rename, name="rename"),
    path("<uuid:public_id>/delete/", views.conversation_delete, name="delete"),
]
