"""zenpy, unchanged, against the Zendesk sandbox: the calls a migration tool makes.

Usage: zenpy_scenarios.py SCENARIO [JSON_ARGS]; prints one JSON object on its last line.
The sandbox is given by ZENDESK_URL, ZENDESK_EMAIL and ZENDESK_API_TOKEN.
"""
import io
import json
import os
import sys
import time
from urllib.parse import urlsplit

# zenpy builds https://{subdomain}.zendesk.com URLs; ZENPY_FORCE_SCHEME and ZENPY_FORCE_NETLOC are
# its own switches for pointing every request elsewhere (read in BaseApi._build_url), so the library
# runs unpatched. Pages it follows come from the sandbox's next_page/after_url links.
_url = urlsplit(os.environ["ZENDESK_URL"])
os.environ["ZENPY_FORCE_SCHEME"] = _url.scheme
os.environ["ZENPY_FORCE_NETLOC"] = _url.netloc

from zenpy import Zenpy  # noqa: E402
from zenpy.lib.api_objects import Comment, Ticket  # noqa: E402
from zenpy.lib.api_objects.help_centre_objects import Article, Category, Section  # noqa: E402
from zenpy.lib.exception import APIException  # noqa: E402


def client(token=None):
    return Zenpy(
        subdomain="sandbox",
        email=os.environ["ZENDESK_EMAIL"],
        token=token or os.environ["ZENDESK_API_TOKEN"],
        disable_cache=True,
    )


def list_and_paginate(zp, args):
    refused = None
    try:
        client("wrong-token").users.me()
    except APIException as e:
        refused = e.response.status_code
    return {
        "me": zp.users.me().email,
        "refused_status": refused,
        "tickets_cursor": [t.id for t in zp.tickets(cursor_pagination=7)],
        "tickets_offset": [t.id for t in zp.tickets(cursor_pagination=False)],
        "users": [u.id for u in zp.users(cursor_pagination=25)],
        "organizations": [o.id for o in zp.organizations()],
        "groups": [g.id for g in zp.groups()],
        "ticket_fields": [f.id for f in zp.ticket_fields()],
        "ticket": zp.tickets(id=args["ticket_id"]).to_dict()["subject"],
    }


def incremental(zp, args):
    by_cursor = zp.tickets.incremental(start_time=args["start_time"], per_page=5)
    cursor_ids = [t.id for t in by_cursor]
    by_time = zp.tickets.incremental(start_time=args["start_time"], paginate_by_time=True, per_page=5)
    time_ids = [t.id for t in by_time]
    users = [u.id for u in zp.users.incremental(start_time=args["start_time"], per_page=10)]
    organizations = [o.id for o in zp.organizations.incremental(start_time=args["start_time"])]
    return {
        "cursor_ids": cursor_ids,
        "after_cursor": by_cursor.after_cursor,
        "time_ids": time_ids,
        "users": users,
        "organizations": organizations,
    }


def resume(zp, args):
    gen = zp.tickets.incremental(cursor=args["cursor"])
    return {"ids": [t.id for t in gen], "subjects": [t.subject for t in gen.values]}


def comments(zp, args):
    return {
        "comments": [
            {"id": c.id, "body": c.body, "public": c.public, "author_id": c.author_id,
             "attachments": [a.file_name for a in c.attachments]}
            for c in zp.tickets.comments(ticket=args["ticket_id"])
        ]
    }


def help_center(zp, args):
    hc = zp.help_center
    categories = [c.id for c in hc.categories()]
    sections = [s.id for s in hc.sections()]
    articles = [a.id for a in hc.articles()]
    first_section = sections[0]
    in_section = [a.id for a in hc.sections.articles(section=first_section)]
    translations = [t.locale for t in hc.articles.translations(articles[0])]
    permission_group = next(iter(hc.permission_groups())).id
    category = hc.categories.create(Category(name="Migrated category", description="From the old desk", locale="en-us"))
    section = hc.sections.create(Section(category_id=category.id, name="Migrated section", locale="en-us"))
    article = hc.articles.create(
        section=section.id,
        article=Article(title="Migrated article", body="<p>Body of the article</p>", locale="en-us",
                        permission_group_id=permission_group, user_segment_id=None),
    )
    back = hc.articles(id=article.id)
    return {
        "categories": categories,
        "sections": sections,
        "articles": articles,
        "section_id": first_section,
        "in_section": in_section,
        "translations": translations,
        "created": {"category": category.id, "section": section.id, "section_category": section.category_id,
                    "article": article.id, "article_section": back.section_id, "title": back.title, "body": back.body},
    }


def imports(zp, args):
    requester = args["requester_id"]
    author = args["agent_id"]

    def ticket(n):
        return Ticket(
            subject="Imported %d" % n,
            requester_id=requester,
            assignee_id=author,
            status="closed",
            tags=["imported"],
            created_at="2020-01-0%dT10:00:00Z" % n,
            updated_at="2020-01-0%dT12:00:00Z" % n,
            comments=[
                Comment(author_id=requester, body="Question %d" % n, created_at="2020-01-0%dT10:00:00Z" % n),
                Comment(author_id=author, body="Private note %d" % n, public=False, created_at="2020-01-0%dT11:00:00Z" % n),
            ],
        )

    single = zp.ticket_import.create(ticket(1))
    job = zp.ticket_import.create([ticket(2), ticket(3), ticket(4)])
    polls = 0
    while job.status not in ("completed", "failed", "killed"):
        polls += 1
        if polls > 50:
            raise RuntimeError("job %s still %s" % (job.id, job.status))
        time.sleep(0.05)
        job = zp.job_status(id=job.id)
    results = [r.to_dict() if hasattr(r, "to_dict") else r for r in job.results]
    return {"single": single.id, "single_created_at": str(single.created_at), "job_status": job.status,
            "polls": polls, "job_ids": [r["id"] for r in results], "job_total": job.total}


def uploads(zp, args):
    first = b"first file \x00\x01\x02 bytes"
    second = b"second file, same upload token"
    up = zp.attachments.upload(io.BytesIO(first), target_name="first.bin", content_type="application/octet-stream")
    up2 = zp.attachments.upload(io.BytesIO(second), token=up.token, target_name="second.txt", content_type="text/plain")
    audit = zp.tickets.create(Ticket(
        subject="With attachments",
        requester_id=args["requester_id"],
        comment=Comment(body="See the files", uploads=[up.token]),
    ))
    ticket_id = audit.ticket.id
    attachments = [a for c in zp.tickets.comments(ticket=ticket_id) for a in c.attachments]
    # attachments.download(id) first reads GET /attachments/{id}, which the sandbox lacks; a migration
    # has the comment's content_url already and fetches it with the client's authenticated session.
    downloads = {a.file_name: zp.attachments.session.get(a.content_url).content for a in attachments}
    return {
        "token_shared": up2.token == up.token,
        "ticket_id": ticket_id,
        "files": sorted(downloads),
        "bytes_match": downloads.get("first.bin") == first and downloads.get("second.txt") == second,
    }


def notes(zp, args):
    ticket = zp.tickets(id=args["ticket_id"])
    ticket.comment = Comment(body="Internal note from zenpy", public=False)
    zp.tickets.update(ticket)
    reply = zp.tickets(id=args["ticket_id"])
    reply.comment = Comment(body="Public reply from zenpy", public=True)
    zp.tickets.update(reply)
    last = list(zp.tickets.comments(ticket=args["ticket_id"]))[-2:]
    return {"last": [{"body": c.body, "public": c.public} for c in last]}


def events_and_sideloads(zp, args):
    events = []
    for e in zp.tickets.events(start_time=args["start_time"], include=["comment_events"], per_page=args.get("per_page")):
        comments = [c for c in (e.child_events or []) if c.get("event_type") == "Comment"]
        events.append({"ticket_id": e.ticket_id, "comment_ids": [c["id"] for c in comments], "bodies": [c["body"] for c in comments]})
    # Sideloaded records land in zenpy's object cache, which this client keeps on.
    cached = Zenpy(subdomain="sandbox", email=os.environ["ZENDESK_EMAIL"], token=os.environ["ZENDESK_API_TOKEN"])
    tickets = list(cached.tickets.incremental(start_time=args["start_time"], paginate_by_time=True, include=["users", "organizations"], per_page=10))
    requesters = sorted({t.requester_id for t in tickets if t.requester_id})
    organizations = sorted({t.organization_id for t in tickets if t.organization_id})
    return {
        "events": events,
        "tickets": len(tickets),
        "requesters": requesters,
        "cached_requesters": [i for i in requesters if cached.cache.get("user", i) is not None],
        "organizations": organizations,
        "cached_organizations": [i for i in organizations if cached.cache.get("organization", i) is not None],
    }


SCENARIOS = {
    "list": list_and_paginate,
    "incremental": incremental,
    "events_and_sideloads": events_and_sideloads,
    "resume": resume,
    "comments": comments,
    "help-center": help_center,
    "import": imports,
    "uploads": uploads,
    "notes": notes,
}

if __name__ == "__main__":
    name = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(SCENARIOS[name](client(), arguments)))
