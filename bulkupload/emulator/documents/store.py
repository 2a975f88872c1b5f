"""The Documents tool's data and rules: folders, files, versions, checkouts, read-only items.

Strict where Procore is strict (upload ownership, one attachment per upload, the one-week
deletion of unattached uploads, sibling name uniqueness) so the client meets the rules it must
obey. One store per `EmulatorState` (its `documents` field), sharing its clock and uploads.
"""

from __future__ import annotations

from typing import Literal

from bulkupload.emulator.core import Clock, Identity, UploadRecord

from .model import (
    Checkout,
    DocFile,
    DocFolder,
    FileChanges,
    FileVersion,
    Refused,
    SpaceKey,
    User,
    check_name,
    numbered,
    rejected,
)
from .tree import FolderTree
from .uploads import sweep, usable_upload

USER_IDS_FROM = 5000  # the emulator's identities as Procore users; OTHER_USER is far below


class DocumentsStore(FolderTree):
    """All folders and files of every project and company, and the rules for changing them."""

    def __init__(self, clock: Clock, uploads: dict[str, UploadRecord]) -> None:
        super().__init__(clock)
        self.uploads = uploads  # the emulator's uploads by uuid (shared, not copied)
        self.expired: set[str] = set()  # uuids swept after a week unattached
        self.users: dict[str, User] = {}

    def user(self, identity: Identity) -> User:
        """The Procore user an OAuth identity acts as (stable for the store's life)."""
        found = self.users.get(identity.client_id)
        if found is None:
            uid = USER_IDS_FROM + len(self.users)
            name = f"{identity.client_id} (service account)"
            found = User(uid, f"{identity.client_id}@example.com", name)
            self.users[identity.client_id] = found
        return found

    # -- checks shared by the writes ---------------------------------------------------------

    def _writable_parent(self, space: SpaceKey, parent_id: int | None, what: str) -> DocFolder:
        parent = self.root(space) if parent_id is None else self.folder(space, parent_id)
        if parent.is_recycle_bin:
            raise rejected(422, {"parent_id": [f"cannot place a {what} in the Recycle Bin"]})
        if self.folder_read_only(parent):
            raise Refused("read_only", subject="folder", name=parent.name or "Documents")
        return parent

    def _writable_file(self, file: DocFile, user: User) -> None:
        holder = file.checked_out(self.now())
        if holder is not None and holder.by != user:
            raise Refused("checked_out", subject="file", name=file.name, file=file)
        if self.file_read_only(file):
            raise Refused("read_only", subject="file", name=file.name)

    def _destination(
        self,
        space: SpaceKey,
        kind: Literal["folder", "file"],
        parent_id_now: int,
        name_now: str,
        name: str | None,
        parent_id: int | None,
    ) -> tuple[DocFolder, DocFolder, str]:
        """Where a rename and/or move puts an item: (old parent, new parent, new name), checked
        like a create (writable parent, valid name, free among the new siblings)."""
        new_name = name_now if name is None else name
        check_name(new_name)
        old_parent = self.folders[parent_id_now]
        target = old_parent
        if parent_id is not None and parent_id != parent_id_now:
            target = self._writable_parent(space, parent_id, kind)
        siblings = target.folders if kind == "folder" else target.files
        if (target is not old_parent or new_name != name_now) and new_name in siblings:
            raise Refused("name_taken", subject=kind, name=new_name)
        return old_parent, target, new_name

    # -- folders ---------------------------------------------------------------------------

    def create_folder(
        self,
        space: SpaceKey,
        identity: Identity,
        name: str,
        parent_id: int | None,
        *,
        private: bool = False,
        is_tracked: bool = False,
    ) -> DocFolder:
        parent = self._writable_parent(space, parent_id, "folder")
        check_name(name)
        if name in parent.folders:
            raise Refused("name_taken", subject="folder", name=name)
        now = self.now()
        created = DocFolder(self._new_id(), space, name, parent.id, now, self.user(identity), now)
        created.private, created.is_tracked = private, is_tracked
        self.folders[created.id] = created
        parent.folders[name] = created.id
        parent.updated_at = now
        return created

    def update_folder(
        self,
        folder: DocFolder,
        *,
        name: str | None,
        parent_id: int | None,
        private: bool | None,
        is_tracked: bool | None,
    ) -> DocFolder:
        """Rename and/or move (`parent_id`) a folder, under the same rules as creating one."""
        if folder.parent_id is None or folder.is_recycle_bin or self.folder_read_only(folder):
            raise Refused("read_only", subject="folder", name=folder.name or "Documents")
        old_parent, target, new_name = self._destination(
            folder.space, "folder", folder.parent_id, folder.name, name, parent_id
        )
        if folder in self.ancestors(target):
            raise rejected(
                422, {"parent_id": ["cannot be the folder itself or one of its subfolders"]}
            )
        now = self.now()
        del old_parent.folders[folder.name]
        folder.name = new_name
        folder.parent_id = target.id
        target.folders[new_name] = folder.id
        if private is not None:
            folder.private = private
        if is_tracked is not None:
            folder.is_tracked = is_tracked
        folder.updated_at = old_parent.updated_at = target.updated_at = now
        return folder

    # -- files -----------------------------------------------------------------------------

    def create_file(
        self,
        space: SpaceKey,
        identity: Identity,
        *,
        name: str,
        parent_id: int | None,
        upload_uuid: str,
        description: str,
        unique_name: bool,
        private: bool = False,
        is_tracked: bool = False,
    ) -> DocFile:
        parent = self._writable_parent(space, parent_id, "file")
        check_name(name)
        if name in parent.files:
            if not unique_name:
                raise Refused("name_taken", subject="file", name=name)
            n = 1
            while numbered(name, n) in parent.files:
                n += 1
            name = numbered(name, n)
        # Validate the upload last, claim it last: a rejected request leaves it usable.
        record = self.usable_upload(space, identity, upload_uuid)
        now = self.now()
        user = self.user(identity)
        created = DocFile(self._new_id(), space, name, parent.id, description, now, user, now)
        created.private, created.is_tracked = private, is_tracked
        self.files[created.id] = created
        parent.files[name] = created.id
        parent.updated_at = now
        self._add_version(created, record, user, None, None)
        return created

    def update_file(self, identity: Identity, file: DocFile, changes: FileChanges) -> DocFile:
        """One file PATCH: every check first, then every change (all or nothing)."""
        user = self.user(identity)
        self._writable_file(file, user)
        old_parent, target, new_name = self._destination(
            file.space, "file", file.parent_id, file.name, changes.name, changes.parent_id
        )
        record = None
        if changes.upload_uuid:
            record = self.usable_upload(file.space, identity, changes.upload_uuid)
        now = self.now()
        del old_parent.files[file.name]
        file.name, file.parent_id = new_name, target.id
        target.files[new_name] = file.id
        if changes.description is not None:
            file.description = changes.description
        if changes.private is not None:
            file.private = changes.private
        if changes.is_tracked is not None:
            file.is_tracked = changes.is_tracked
        if changes.release_checkout:
            file.checkout = None
        elif changes.checkout_until is not None:
            file.checkout = Checkout(user, changes.checkout_until)
        if record is not None:
            self._add_version(file, record, user, None, None)
        file.updated_at = now
        return file

    def add_version(
        self,
        identity: Identity,
        file: DocFile,
        upload_uuid: str,
        notes: str | None,
        filename: str | None,
    ) -> FileVersion:
        user = self.user(identity)
        self._writable_file(file, user)
        record = self.usable_upload(file.space, identity, upload_uuid)
        file.updated_at = self.now()
        return self._add_version(file, record, user, notes, filename)

    def _add_version(
        self,
        file: DocFile,
        record: UploadRecord,
        user: User,
        notes: str | None,
        filename: str | None,
    ) -> FileVersion:
        assert record.stored is not None
        version = FileVersion(
            id=self._new_id(),
            number=len(file.versions) + 1,
            size=record.stored.size,
            md5=record.stored.md5,
            upload_uuid=record.uuid,
            created_at=self.now(),
            created_by=user,
            prostore_id=self._new_id(),
            filename=filename or file.name,
            location=f"{record.bucket}/{record.key}",
            notes=notes,
        )
        file.versions.append(version)
        record.attached_to = file.id
        return version

    # -- uploads ---------------------------------------------------------------------------

    def sweep(self) -> int:
        """Delete uploads left unattached for more than a week; returns how many went."""
        return sweep(self.uploads, self.now(), self.expired)

    def usable_upload(self, space: SpaceKey, identity: Identity, uuid: str) -> UploadRecord:
        return usable_upload(self.uploads, self.now(), self.expired, space, identity, uuid)
