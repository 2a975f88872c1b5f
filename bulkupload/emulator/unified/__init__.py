"""Procore's v2.1 Unified File Uploads: Create, PUT parts to presigned URLs, Complete, Status.

Create validates the body as published (400 with a v2 error body listing every problem) and
answers a presigned URL per part; each PUT is a storage request like the v1 ones (counted,
faults, latency) checked against the part's size, SHA-256 and MD5; the PATCH records partial
progress (`receiving`) or keeps the parts as the object's pieces and checks the whole-file
digests (mostly computed in the background as the parts arrived); status GETs renew part URLs
while parts may arrive and end the emulated malware scan after `v21_scan_polls`.
Only the creating identity may use an upload, in the scope it was created in; one left
unassociated 24 h after creation is deleted for good. With `--storage seaweedfs` the parts go to
SeaweedFS instead, by its own presigned UploadPart URLs (`remote`, `seaweed_parts`).

This package's top level exports only the data (no `EmulatorState`), so the state can build
its store without an import cycle; `routes.add_unified_routes` plugs the rest into an app.
Document Management (a later part) sets `associated_to` on an upload it links.
"""

from __future__ import annotations

from .model import UnifiedStore, UnifiedUpload

__all__ = ["UnifiedStore", "UnifiedUpload"]
