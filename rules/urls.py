from django.urls import path

from rules import api

urlpatterns = [
    path("rules/", api.RuleListCreateApi.as_view(), name="api-rules"),
    path("rules/export/", api.RuleExportApi.as_view(), name="api-rules-export"),
    path("rules/import/", api.RuleImportApi.as_view(), name="api-rules-import"),
    path("rules/<int:pk>/", api.RuleDetailApi.as_view(), name="api-rule-detail"),
    path("rules/<int:pk>/dry-run/", api.RuleDryRunApi.as_view(), name="api-rule-dry-run"),
]
