"""Image references as people write them: the names an image is indexed under, and what a search means."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.logic.images import index_names, parse, search_name


@pytest.mark.parametrize(
    ("reference", "names"),
    [
        ("nginx:1.27", ["docker.io/library/nginx:1.27", "docker.io/library/nginx", "nginx:1.27"]),
        ("nginx", ["docker.io/library/nginx"]),
        (
            "public.ecr.aws/nginx/nginx:1.27",
            ["public.ecr.aws/nginx/nginx:1.27", "public.ecr.aws/nginx/nginx", "nginx:1.27"],
        ),
        (
            "index.docker.io/library/nginx:1.27",
            ["docker.io/library/nginx:1.27", "docker.io/library/nginx", "nginx:1.27"],
        ),
        ("localhost:5000/team/app:v2", ["localhost:5000/team/app:v2", "localhost:5000/team/app", "app:v2"]),
        (
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "a" * 64,
            [
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:" + "a" * 64,
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app",
                "app@sha256:" + "a" * 64,
            ],
        ),
        ("bitnami/redis:7", ["docker.io/bitnami/redis:7", "docker.io/bitnami/redis", "redis:7"]),
    ],
)
def test_an_image_is_indexed_under_the_names_people_use(reference: str, names: list[str]) -> None:
    assert index_names(reference) == names


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("nginx:1.27", "nginx:1.27"),  # the short name with its tag, any registry
        ("nginx", "docker.io/library/nginx"),  # Docker Hub's nginx, every tag
        ("docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("public.ecr.aws/nginx/nginx", "public.ecr.aws/nginx/nginx"),  # every tag
        ("library/nginx:1.27", "docker.io/library/nginx:1.27"),
    ],
)
def test_a_search_value_means_one_indexed_name(typed: str, meant: str) -> None:
    assert search_name(typed) == meant


_segment = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True)


@given(
    st.sampled_from(["", "docker.io/", "public.ecr.aws/", "123456789012.dkr.ecr.us-east-1.amazonaws.com/"]),
    st.lists(_segment, min_size=1, max_size=3),
    st.one_of(st.none(), _segment),
)
def test_every_way_to_search_an_image_finds_it(registry: str, path: list[str], tag: str | None) -> None:
    """Whatever the image, searching it by its full reference, its repository, or (with a tag) its
    short name names one of the names it is indexed under."""
    reference = registry + "/".join(path) + (f":{tag}" if tag else "")
    names = set(index_names(reference))
    ref = parse(reference)
    assert search_name(reference) in names
    assert search_name(ref.repository) in names
    if tag:
        assert search_name(f"{path[-1]}:{tag}") in names
