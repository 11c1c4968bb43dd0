"""Custom menus: editable drafts (``Menu``) and the immutable record of each publish (``MenuVersion``).

The button tree is stored as WeChat's own JSON (the ``button`` list), so that what is edited,
what is sent and what is pulled back are the same document (``client.menus.validate_menu``).
"""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ..client.menus import MenuSpecError, validate_menu


class MenuKind(models.TextChoices):
    DEFAULT = "default", _("Default menu")
    CONDITIONAL = "conditional", _("Conditional menu")


def menu_spec_error_to_validation_error(err: MenuSpecError) -> ValidationError:
    """One message per problem, each naming the button ("button 2 › sub-button 4: ..."), under the
    model field it concerns (``matchrule`` or ``buttons``)."""
    errors: dict[str, list[ValidationError]] = {}
    for problem in err.problems:
        field = "matchrule" if problem.field == "matchrule" else "buttons"
        errors.setdefault(field, []).append(ValidationError(problem.label(), code="menu_" + problem.field))
    return ValidationError(errors)


class Menu(models.Model):
    """The editable draft of one menu of an account: the default menu or a conditional one.

    Editing the draft changes nothing on WeChat; ``services.menus.publish`` sends it and records
    a ``MenuVersion``. ``live_version`` is the last version of this menu WeChat accepted.
    """

    Kind = MenuKind

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="menus",
                                verbose_name=_("account"))
    kind = models.CharField(_("kind"), max_length=16, choices=MenuKind.choices, default=MenuKind.DEFAULT)
    name = models.CharField(_("name"), max_length=100, help_text=_("Your label for this menu (not shown to users)."))
    buttons = models.JSONField(_("buttons"), default=list, blank=True,
                               help_text=_("WeChat's \"button\" list: 1 to 3 buttons, each with up to 5 sub-buttons."))
    matchrule = models.JSONField(_("match rule"), default=dict, blank=True,
                                 help_text=_("Conditional menus: who sees it (tag_id, sex, country, province, city, "
                                             "client_platform_type, language)."))
    menuid = models.CharField(_("WeChat menu id"), max_length=64, blank=True, editable=False,
                              help_text=_("The id WeChat gave the live conditional menu."))
    live_version = models.ForeignKey("wechat_app.MenuVersion", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", editable=False, verbose_name=_("live version"))
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "kind", "name", "id"]
        verbose_name = _("menu")
        verbose_name_plural = _("menus")
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(kind="default"),
                                    name="wechat_menu_one_default_per_account",
                                    violation_error_message=_("This account already has a default menu.")),
        ]

    def __str__(self):
        return self.name

    @property
    def is_conditional(self) -> bool:
        return self.kind == MenuKind.CONDITIONAL

    def document(self) -> dict:
        """The draft as WeChat's JSON: ``{"button": [...]}`` (+ ``"matchrule"`` when conditional)."""
        doc = {"button": self.buttons if self.buttons is not None else []}
        if self.is_conditional:
            doc["matchrule"] = self.matchrule or {}
        return doc

    def validated_document(self) -> dict:
        """The normalized document, or ``MenuSpecError``."""
        return validate_menu(self.document(), conditional=self.is_conditional)

    def clean(self):
        super().clean()
        if not self.is_conditional and self.matchrule:
            raise ValidationError({"matchrule": _("Only a conditional menu has a match rule.")})
        try:
            normalized = self.validated_document()
        except MenuSpecError as err:
            raise menu_spec_error_to_validation_error(err) from None
        self.buttons = normalized["button"]
        if self.is_conditional:
            self.matchrule = normalized["matchrule"]

    def full_clean(self, exclude=None, *args, **kwargs):
        """As Django's, but an error of a field left out (``exclude``, e.g. a form without the match
        rule) is reported for the whole menu: a ModelForm refuses errors of fields it does not have."""
        try:
            super().full_clean(exclude, *args, **kwargs)
        except ValidationError as err:
            excluded = set(exclude or ())
            if not hasattr(err, "error_dict") or not excluded & set(err.error_dict):
                raise
            moved: dict[str, list] = {}
            for field, errors in err.error_dict.items():
                moved.setdefault(NON_FIELD_ERRORS if field in excluded else field, []).extend(errors)
            raise ValidationError(moved) from None

    @property
    def has_unpublished_changes(self) -> bool:
        """Whether the draft differs from what WeChat shows (always, when never published)."""
        live = self.live_version
        return live is None or live.document != self.document()


class MenuVersion(models.Model):
    """What one publish (or rollback, or pull) sent or found: never edited afterwards, except
    that a pending version gets WeChat's answer once."""

    class Source(models.TextChoices):
        PUBLISH = "publish", _("Published")
        ROLLBACK = "rollback", _("Rolled back")
        PULL = "pull", _("Pulled from WeChat")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        PUBLISHED = "published", _("Published")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey("wechat_app.Account", on_delete=models.CASCADE, related_name="menu_versions",
                                verbose_name=_("account"))
    menu = models.ForeignKey(Menu, on_delete=models.SET_NULL, null=True, blank=True, related_name="versions",
                             verbose_name=_("menu"))
    number = models.PositiveIntegerField(_("version"))
    kind = models.CharField(_("kind"), max_length=16, choices=MenuKind.choices, default=MenuKind.DEFAULT)
    document = models.JSONField(_("document"), help_text=_("The menu JSON exactly as sent to WeChat."))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.PUBLISH)
    rolled_back_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                         related_name="rollbacks", verbose_name=_("rolled back from"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    errcode = models.IntegerField(_("WeChat errcode"), null=True, blank=True)
    errmsg = models.CharField(_("WeChat errmsg"), max_length=255, blank=True)
    problem_path = models.JSONField(_("button concerned"), null=True, blank=True,
                                    help_text=_("The button path ([i] or [i, j], 0-based) WeChat's error concerns."))
    menuid = models.CharField(_("WeChat menu id"), max_length=64, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", verbose_name=_("published by"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("answered at"), null=True, blank=True)

    class Meta:
        ordering = ["account", "-number"]
        get_latest_by = "number"
        verbose_name = _("menu version")
        verbose_name_plural = _("menu versions")
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="wechat_menuversion_unique_number"),
        ]

    def __str__(self):
        return f"v{self.number} ({self.get_kind_display()}, {self.get_status_display()})"

    @property
    def is_done(self) -> bool:
        return self.status != self.Status.PENDING

    def problem_label(self) -> str:
        """The button WeChat's error concerns, for people ("button 2 › sub-button 4"), or ''."""
        from ..client.menus import MenuProblem

        if self.problem_path is None:
            return ""
        return MenuProblem(tuple(self.problem_path), "", "").where()
