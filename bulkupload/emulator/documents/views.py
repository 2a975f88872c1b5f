"""The published JSON of folders, files, file versions and documents-listing rows.

Only fields the contract lists: no upload uuid, no content hash, no field Procore does not
publish. What tests need beyond that lives in the admin tree (`admin_tree`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import DocFile, DocFolder, FileVersion, file_type, iso
from .store import DocumentsStore

# A File in the 409 of file PATCH omits these (SDK RestV10FilesIdPatch409ResponseFile).
_NOT_IN_CONFLICT_FILE = ("tracked_folder", "is_deleted")


@dataclass(frozen=True, slots=True)
class Shown:
    """How much of a folder or file an answer shows (the published query options)."""

    base_url: str  # scheme://host:port of the request, for version urls
    exclude_folders: bool = False
    exclude_files: bool = False
    latest_version_only: bool = False


def version_json(shown: Shown, file: DocFile, v: FileVersion) -> dict[str, Any]:
    url = f"{shown.base_url}/s3/{v.location}"
    return {
        "id": v.id,
        "number": v.number,
        "size": v.size,
        "url": url,
        "notes": v.notes,
        "created_at": iso(v.created_at),
        "created_by": v.created_by.as_json(),
        "prostore_file": {
            "id": v.prostore_id,
            "name": v.filename,
            "url": url,
            "filename": v.filename,
        },
        "file_id": file.id,
    }


def file_json(store: DocumentsStore, shown: Shown, file: DocFile) -> dict[str, Any]:
    latest = file.versions[-1]
    parent_path = store.path_of(file.parent_id)
    versions = file.versions[-1:] if shown.latest_version_only else file.versions
    checkout = file.checked_out(store.now())
    return {
        "id": file.id,
        "name": file.name,
        "parent_id": file.parent_id,
        "size": latest.size,
        "description": file.description,
        "created_at": iso(file.created_at),
        "updated_at": iso(file.updated_at),
        "checked_out_until": None if checkout is None else iso(checkout.until),
        "checked_out_by": None if checkout is None else checkout.by.as_json(),
        "name_with_path": f"{parent_path}/{file.name}" if parent_path else file.name,
        "private": file.private,
        "is_tracked": file.is_tracked,
        "tracked_folder": None,
        "file_type": file_type(file.name),
        "is_deleted": False,
        "file_versions": [version_json(shown, file, v) for v in versions],
    }


def conflict_file_json(store: DocumentsStore, shown: Shown, file: DocFile) -> dict[str, Any]:
    """The `file` of the published 409 body of file PATCH."""
    out = file_json(store, shown, file)
    for key in _NOT_IN_CONFLICT_FILE:
        del out[key]
    return out


def _child_folder_ids(store: DocumentsStore, folder: DocFolder) -> list[int]:
    ids = sorted(folder.folders.values())
    if folder.parent_id is None:  # the root shows its recycle bin first
        ids.insert(0, store.recycle_bins[folder.space])
    return ids


def folder_json(
    store: DocumentsStore, shown: Shown, folder: DocFolder, *, depth: int = 1
) -> dict[str, Any]:
    """A folder with its children `depth` levels deep; deeper ones get empty arrays, as the
    root listing does."""
    child_ids = _child_folder_ids(store, folder)
    out: dict[str, Any] = {
        "id": folder.id,
        "name": folder.name,
        "parent_id": folder.parent_id,
        "name_with_path": store.path_of(folder.id),
        "private": folder.private,
        "is_tracked": folder.is_tracked,
        "tracked_folder": None,
        "read_only": store.folder_read_only(folder),
        "is_deleted": False,
        "is_recycle_bin": folder.is_recycle_bin,
        "has_children": bool(child_ids or folder.files),
        "has_children_files": bool(folder.files),
        "has_children_folders": bool(child_ids),
        "updated_at": iso(folder.updated_at),
    }
    if not shown.exclude_folders:
        out["folders"] = (
            [folder_json(store, shown, store.folders[i], depth=depth - 1) for i in child_ids]
            if depth > 0
            else []
        )
    if not shown.exclude_files:
        out["files"] = (
            [file_json(store, shown, store.files[i]) for i in sorted(folder.files.values())]
            if depth > 0
            else []
        )
    return out


def listing_row(store: DocumentsStore, shown: Shown, item: DocFolder | DocFile) -> dict[str, Any]:
    """One row of `GET .../documents`: common fields, then a nested `file` or `children`."""
    is_file = isinstance(item, DocFile)
    if isinstance(item, DocFile):
        parent_path = store.path_of(item.parent_id)
        path = f"{parent_path}/{item.name}" if parent_path else item.name
        read_only = store.file_read_only(item)
    else:
        path = store.path_of(item.id)
        read_only = store.folder_read_only(item)
    row: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "name_with_path": path,
        "created_at": iso(item.created_at),
        "updated_at": iso(item.updated_at),
        "read_only": read_only,
        "is_deleted": False,
        "is_recycle_bin": isinstance(item, DocFolder) and item.is_recycle_bin,
        "document_type": "file" if is_file else "folder",
        "is_tracked": item.is_tracked,
        "private": item.private,
    }
    if item.parent_id is not None:  # the root has none, and the row publishes no null
        row["parent_id"] = item.parent_id
    if item.created_by is not None:
        row["created_by"] = item.created_by.as_json()
    if isinstance(item, DocFile):
        nested: dict[str, Any] = {
            "current_version": version_json(shown, item, item.versions[-1]),
            "description": item.description,
            "file_type": file_type(item.name),
        }
        # The row types both as non-null: a file nobody holds leaves them out.
        if (checkout := item.checked_out(store.now())) is not None:
            kind, ident = item.space
            nested["checked_out_by"] = {
                **checkout.by.as_json(),
                "company_name": f"Company of {kind} {ident}",
                "locale": "en",
            }
            nested["checked_out_until"] = iso(checkout.until)
        row["file"] = nested
    else:
        children = _child_folder_ids(store, item)
        row["children"] = {
            "has_children": bool(children or item.files),
            "has_children_files": bool(item.files),
            "has_children_folders": bool(children),
        }
    return row


def admin_tree(store: DocumentsStore, folder: DocFolder) -> dict[str, Any]:
    """The admin view: nested folders and files with stored md5s and the upload each version
    came from, recycle bin left out. Not a Procore answer: tests assert on it."""
    return {
        "id": folder.id,
        "name": folder.name,
        "folders": [admin_tree(store, store.folders[i]) for _, i in sorted(folder.folders.items())],
        "files": [
            {
                "id": f.id,
                "name": f.name,
                "size": f.versions[-1].size,
                "md5": f.versions[-1].md5,
                "versions": [
                    {"number": v.number, "size": v.size, "md5": v.md5, "upload_uuid": v.upload_uuid}
                    for v in f.versions
                ],
            }
            for f in (store.files[i] for _, i in sorted(folder.files.items()))
        ],
    }
