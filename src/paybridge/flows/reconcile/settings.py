"""Reconciliation settings (``reconcile:`` in the settings file); defined with the other settings."""

from paybridge.settings import (
    BRANDS,
    BrandAccounts,
    CompanyReconcileSettings,
    ReconcileSettings,
)

__all__ = ["BRANDS", "BrandAccounts", "CompanyReconcileSettings", "ReconcileSettings"]
