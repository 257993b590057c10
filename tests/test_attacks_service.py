"""Attacks on the grading service's HTTP side, before any token is checked."""
import pytest

from served import service

LIMIT = 1 << 20


@pytest.mark.service
@pytest.mark.parametrize('method, path', [('post', '/v1/courses/c1/submissions'),
                                          ('put', '/v1/courses/c1/roster')])
def test_a_body_past_the_upload_limit_is_refused_before_it_is_read_whatever_the_method(
        tmp_path, redis_url_, method, path):
    """FastAPI parses a form (spooling its file to disk) before the route's token is checked:
    the cap on bodies held only for POST, so a PUT of the roster without a token streamed any
    number of bytes into the API host's temporary files before its 401."""
    client, _ = service(tmp_path, redis_url_, upload_limit=LIMIT)
    with client:
        answer = getattr(client, method)(path, files={'file': ('f.csv', b'x' * (LIMIT + 1))})
    assert answer.status_code == 413, answer.text
