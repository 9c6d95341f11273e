"""Synthetic Ko-CARTR site submissions with known truth and known defects (`kocartr synth`)."""

from kocartr.synth.generate import generate

__all__ = ["generate"]
