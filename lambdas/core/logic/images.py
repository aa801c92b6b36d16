"""Image references the way people write them (pure).

`nginx:1.27` is Docker's short form of `docker.io/library/nginx:1.27`; a repository without a tag
names every tag of it; ECR, public ECR and other registries are spelled in full. So an image is
indexed under the names people search it by, and a search value is read the same way:
- the canonical reference (`docker.io/library/nginx:1.27`, `public.ecr.aws/nginx/nginx:1.27`);
- its repository (`docker.io/library/nginx`): a search without a tag finds every tag;
- its short name with the tag (`nginx:1.27`): the name people type, whatever the registry.
A digest reference (`repo@sha256:...`) keeps its digest as the "tag".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DOCKER_HUB: Final = "docker.io"
_LEGACY_HUBS: Final = frozenset({"index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


@dataclass(frozen=True)
class ImageRef:
    registry: str
    path: str  # repository path inside the registry, e.g. library/nginx
    tag: str | None  # ":1.27" or "@sha256:..." (with its separator), None when not given

    @property
    def repository(self) -> str:
        return f"{self.registry}/{self.path}"

    @property
    def canonical(self) -> str:
        return self.repository + (self.tag or "")

    @property
    def short(self) -> str | None:
        """The last path segment with the tag: what `docker run nginx:1.27` people search for."""
        return self.path.rsplit("/", 1)[-1] + self.tag if self.tag else None


def parse(reference: str) -> ImageRef:
    """Docker's reference rules: the first segment is a registry when it has a '.' or ':' or is localhost."""
    name, tag = reference, None
    if "@" in name:
        name, digest = name.split("@", 1)
        tag = "@" + digest
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if tag is None and colon > last_slash:
        name, tag = name[:colon], name[colon:]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), rest
    else:
        registry, path = DOCKER_HUB, name
    if registry in _LEGACY_HUBS:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return ImageRef(registry, path, tag)


def index_names(reference: str) -> list[str]:
    """Every name an image is found by (see the module docs), most specific first, no repeats."""
    ref = parse(reference)
    names = [ref.canonical, ref.repository, ref.short or ""]
    return list(dict.fromkeys(name for name in names if name))


def entry_names(reference: str) -> list[str]:
    """The names an image has index entries under: its repository (every tag) and its short name
    with the tag. Its full reference has none of its own: the repository's entries carry it, so a
    search for it reads the repository's and keeps those (one write fewer an image)."""
    ref = parse(reference)
    return list(dict.fromkeys(name for name in (ref.repository, ref.short or "") if name))


def search_key(value: str) -> tuple[str, str | None]:
    """The indexed name a search value reads, and the full reference its entries must carry (None:
    any of them)."""
    name = search_name(value)
    ref = parse(name)
    if ref.tag is None or name == ref.short:
        return name, None
    return ref.repository, ref.canonical


def search_name(value: str) -> str:
    """The indexed name a search value means: a short `name:tag` as given, anything else canonical."""
    ref = parse(value)
    if "/" not in value and ref.tag is not None:
        return ref.short or value
    return ref.canonical


__all__ = ["ImageRef", "entry_names", "index_names", "parse", "search_key", "search_name"]
