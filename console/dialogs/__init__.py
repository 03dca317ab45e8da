"""Modal dialogs: each is a `ModalScreen[T]` that `dismiss()`es its answer (None = cancelled)."""
