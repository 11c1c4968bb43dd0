"""The material library (upload with WeChat's limits checked first, sync, delete, thumbnails) and
the view that serves media files to staff who may see their account (never a public URL)."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.template.defaultfilters import filesizeformat
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ..client import WeChatAPIError
from ..models import IncomingMedia, Material, MessageLog
from ..services import media as media_service
from ..services.access import can
from .access import AccountScopedAdminMixin
from .filters import AccountListFilter
from .outbound import OUTBOUND_MEDIA_CSS, SyncButtonMixin

UPLOAD_KINDS = [(k, v) for k, v in Material.Kind.choices if k != Material.Kind.NEWS]
HINTS = {"image": "bmp/png/jpeg/jpg/gif, ≤ 10 MB", "voice": "mp3/wma/wav/amr, ≤ 2 MB, ≤ 60 s",
         "video": "mp4, ≤ 10 MB (a title is required)", "thumb": "jpg, ≤ 64 KB"}


def file_url(area: str, pk: int) -> str:
    return reverse("admin:wechat_app_media_file", args=[area, pk])


class MaterialUploadForm(forms.ModelForm):
    """Adds a file to WeChat's library: the limits are checked here, before anything is sent."""

    file = forms.FileField(label=_("file"), help_text="; ".join(f"{k}: {v}" for k, v in HINTS.items()))

    class Meta:
        model = Material
        fields = ["account", "kind", "file", "title", "introduction"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = UPLOAD_KINDS
        self.uploaded = None

    def clean(self):
        data = super().clean()
        upload, kind, account = data.get("file"), data.get("kind"), data.get("account")
        if not upload or not kind or not account or self.errors:
            return data
        limit = media_service.UPLOAD_LIMITS[kind][0]
        if upload.size > limit:  # refused before reading it all
            raise ValidationError({"file": _("A %(kind)s may be at most %(limit)s on WeChat; this file is %(size)s.")
                                   % {"kind": kind, "limit": filesizeformat(limit), "size": filesizeformat(upload.size)}})
        content = upload.read()
        try:
            media_service.validate_upload(kind, upload.name, content)
            if kind == "video" and not (data.get("title") or "").strip():
                raise ValidationError({"title": _("A video needs a title.")})
        except ValidationError as err:
            if hasattr(err, "error_dict"):
                raise
            raise ValidationError({"file": err.messages}) from None
        try:
            self.uploaded = media_service.upload_material(account, kind, upload.name, content,
                                                          title=data.get("title") or "",
                                                          introduction=data.get("introduction") or "")
        except WeChatAPIError as err:
            raise ValidationError(_("WeChat refused the upload: %(error)s") % {"error": err}) from None
        return data

    def save(self, commit=True):
        self.save_m2m = lambda: None  # the row was saved by the upload
        return self.uploaded


@admin.register(Material)
class MaterialAdmin(SyncButtonMixin, AccountScopedAdminMixin, admin.ModelAdmin):
    list_display = ["preview", "label", "kind", "account", "media_id_short", "size_display", "update_time"]
    list_display_links = ["preview", "label"]
    list_filter = [AccountListFilter, "kind"]
    search_fields = ["name", "title", "media_id"]
    readonly_fields = ["account", "kind", "preview_large", "name", "title", "introduction", "media_id", "url",
                       "update_time", "size_display", "content_type", "synced_at", "raw"]
    fields = readonly_fields
    actions = ["sync", "delete_selected"]
    sync_label = _("Sync the library from WeChat")
    list_per_page = 50

    class Media:
        css = OUTBOUND_MEDIA_CSS

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MaterialUploadForm
            kwargs["fields"] = MaterialUploadForm.Meta.fields
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request, obj=None):
        return MaterialUploadForm.Meta.fields if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        pass  # the form's clean() uploaded it and saved the row

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(request, _("Uploaded to WeChat: media id %(id)s") % {"id": obj.media_id}, messages.SUCCESS)
        return super().response_add(request, obj, post_url_continue)

    def delete_model(self, request, obj):
        try:
            media_service.delete_material(obj)
        except WeChatAPIError as err:
            self.message_user(request, _("%(name)s was not deleted: WeChat answered %(error)s")
                              % {"name": obj, "error": err}, messages.ERROR)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def sync_accounts(self, request, accounts):
        if not accounts:
            self.message_user(request, _("No enabled account to sync."), messages.WARNING)
        for account in accounts:
            try:
                r = media_service.sync_materials(account)
            except WeChatAPIError as err:
                self.message_user(request, f"{account.name}: {err}", messages.ERROR)
                continue
            self.message_user(request, _(
                "%(account)s: %(image)s images, %(voice)s voices, %(video)s videos, %(news)s news on WeChat; "
                "%(created)s new, %(updated)s updated, %(deleted)s gone.") % {
                "account": account.name, "image": r.get("image_count", 0), "voice": r.get("voice_count", 0),
                "video": r.get("video_count", 0), "news": r.get("news_count", 0), "created": r["created"],
                "updated": r["updated"], "deleted": r["deleted"]}, messages.SUCCESS)

    @admin.action(description=_("Sync the library from WeChat (accounts of the selected items)"),
                  permissions=["sync"])
    def sync(self, request, queryset):
        super().sync(request, queryset)

    # --- columns ---------------------------------------------------------------------------------
    @admin.display(description=_("preview"))
    def preview(self, obj):
        return material_html(obj, 64)

    @admin.display(description=_("preview"))
    def preview_large(self, obj):
        return material_html(obj, 320)

    @admin.display(description=_("name"), ordering="name")
    def label(self, obj):
        return obj.title or obj.name or obj.media_id[:16]

    @admin.display(description=_("media id"), ordering="media_id")
    def media_id_short(self, obj):
        short = obj.media_id if len(obj.media_id) <= 20 else f"{obj.media_id[:10]}…{obj.media_id[-6:]}"
        return format_html('<code title="{}">{}</code>', obj.media_id, short)

    @admin.display(description=_("size"), ordering="size")
    def size_display(self, obj):
        return filesizeformat(obj.size) if obj.size else "—"

    # --- files ----------------------------------------------------------------------------------
    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("file/<str:area>/<int:pk>/", wrap(self.file_view), name="wechat_app_media_file"),
            path("choices/", wrap(self.choices_view), name="wechat_app_material_choices"),
        ] + super().get_urls()

    def file_view(self, request, area, pk):
        """A material's local copy or a user's media, for staff who may view it in that account."""
        if area == "material":
            row, model = Material.objects.filter(pk=pk).first(), Material
        elif area == "incoming":
            row, model = IncomingMedia.objects.filter(pk=pk).first(), MessageLog
        else:
            raise Http404
        if not can(request.user, "view", model):
            raise PermissionDenied
        if row is None or not can(request.user, "view", model, row.account_id):
            raise Http404("No such file.")
        name = row.local_path if area == "material" else row.path
        if not name:
            raise Http404("Not stored (yet).")
        try:
            handle = media_service.storage().open(name)
        except (FileNotFoundError, OSError):
            raise Http404("The file is gone from storage.") from None
        response = FileResponse(handle, content_type=row.content_type or "application/octet-stream")
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, max-age=3600"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    def choices_view(self, request):
        """JSON ``{"results": [{"media_id", "label", "kind", "thumb"}]}``: an account's materials of
        some kinds, for the media id pickers of the rule and menu forms. The account is ``account``
        (an add form's choice), or that of ``rule`` / ``menu`` (a change form); others' answer empty."""
        from django.http import JsonResponse

        from ..models import Menu, Rule

        if not can(request.user, "view", Material):
            raise PermissionDenied
        account_id = None
        for param, model in (("account", None), ("rule", Rule), ("menu", Menu)):
            value = request.GET.get(param, "")
            if value.isdigit() and len(value) < 19:
                account_id = int(value) if model is None else model.objects.filter(pk=int(value)).values_list(
                    "account_id", flat=True).first()
                break
        kinds = [k for k in request.GET.get("kind", "").split(",") if k in Material.Kind.values] or ["image"]
        if account_id is None or not can(request.user, "view", Material, account_id):
            return JsonResponse({"results": []})
        rows = Material.objects.filter(account_id=account_id, kind__in=kinds).only(
            "pk", "media_id", "kind", "name", "title", "local_path")[:500]
        return JsonResponse({"results": [
            {"media_id": m.media_id, "kind": m.kind, "label": f"{m.get_kind_display()}: {m.title or m.name or m.media_id[:12]}",
             "thumb": file_url("material", m.pk) if m.local_path and m.kind in ("image", "thumb") else ""}
            for m in rows]})


def material_html(obj, size: int):
    """A material's thumbnail (images, thumbs) or player (voices, videos) from its local copy."""
    if not obj.local_path:
        icon = {"voice": "🎤", "video": "🎬", "news": "📰"}.get(obj.kind, "🖼")
        return format_html('<span class="wx-media-icon" title="{}">{}</span>', _("no local copy"), icon)
    url = file_url("material", obj.pk)
    if obj.kind in ("image", "thumb"):
        return format_html('<img src="{}" alt="{}" class="wx-thumb" style="max-width:{}px;max-height:{}px" '
                           'loading="lazy">', url, obj.name, size, size)
    if obj.kind == "voice":
        return format_html('<audio controls preload="none" src="{}"></audio>', url)
    if obj.kind == "video":
        return format_html('<video controls preload="metadata" src="{}" style="max-width:{}px"></video>', url,
                           size * 3)
    return "—"


def incoming_media_html(row, size: int = 240):
    """The picture, the voice player or the video player of a user's media (or its status)."""
    if row is None:
        return ""
    if row.status != IncomingMedia.Status.DONE:
        text = {"pending": _("fetching…"), "fetching": _("fetching…"), "failed": _("could not fetch")}.get(row.status)
        return format_html('<span class="wx-media-status" title="{}">{}</span>', row.error, text)
    url = file_url("incoming", row.pk)
    if row.msg_type == "image":
        return format_html('<a href="{}" target="_blank" rel="noopener"><img src="{}" class="wx-thumb" alt="" '
                           'style="max-width:{}px;max-height:{}px" loading="lazy"></a>', url, url, size, size)
    if row.msg_type == "voice":
        return format_html('<audio controls preload="none" src="{}"></audio>', url)
    return format_html('<video controls preload="metadata" src="{}" style="max-width:{}px"></video>', url, size)
