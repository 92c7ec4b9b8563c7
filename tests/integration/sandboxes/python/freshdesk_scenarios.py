"""python-freshdesk, unchanged, against the Freshdesk sandbox: the calls a migration tool makes.

Usage: freshdesk_scenarios.py SCENARIO [JSON_ARGS]; prints one JSON object on its last line.
The sandbox is given by FRESHDESK_URL and FRESHDESK_API_KEY.
"""
import json
import os
import sys
import tempfile

from requests.adapters import HTTPAdapter

from freshdesk.api import API
from freshdesk.v2.errors import FreshdeskUnauthorized

DOMAIN = "sandbox.freshdesk.com"


class SandboxAdapter(HTTPAdapter):
    """Sends what the client addresses to https://<domain>.freshdesk.com/ to the sandbox instead.

    python-freshdesk hard-codes "https://{domain}/api/v2/" and refuses domains without
    "freshdesk.com"; this transport adapter, mounted on the client's requests session, swaps only
    scheme and host. Paths, queries, headers and bodies are the library's own.
    """

    def __init__(self, sandbox_url):
        super().__init__()
        self.origin = "https://%s" % DOMAIN
        self.target = sandbox_url.rstrip("/")

    def send(self, request, **kwargs):
        if request.url.startswith(self.origin):
            request.url = self.target + request.url[len(self.origin):]
        return super().send(request, **kwargs)


def client(api_key=None):
    api = API(DOMAIN, api_key or os.environ["FRESHDESK_API_KEY"])
    api._session.mount("https://%s/" % DOMAIN, SandboxAdapter(os.environ["FRESHDESK_URL"]))
    return api


def list_and_paginate(fd, args):
    refused = False
    try:
        client("wrong-key").agents.currently_authenticated_agent()
    except FreshdeskUnauthorized:
        refused = True
    since = args["since"]
    return {
        "refused": refused,
        "me": fd.agents.currently_authenticated_agent().id,
        "tickets": [t.id for t in fd.tickets.list_tickets(filter_name=None, updated_since=since, per_page=7)],
        "contacts": [c.id for c in fd.contacts.list_contacts(per_page=9)],
        "companies": [c.id for c in fd.companies.list_companies(per_page=2)],
        "agents": [a.id for a in fd.agents.list_agents(per_page=3)],
        "groups": [g.id for g in fd.groups.list_groups()],
        "ticket_fields": [f.name for f in fd.ticket_fields.list_ticket_fields()],
        "roles": [r.id for r in fd.roles.list_roles()],
        "ticket": fd.tickets.get_ticket(args["ticket_id"]).subject,
    }


def changed_since(fd, args):
    tickets = fd.tickets.list_tickets(filter_name=None, updated_since=args["since"], order_by="updated_at", order_type="asc", per_page=10)
    return {"ids": [t.id for t in tickets], "updated_at": [t.updated_at.isoformat() for t in tickets]}


def filter_tickets(fd, args):
    return {"ids": [t.id for t in fd.tickets.filter_tickets("status:%d" % args["status"])]}


def conversations(fd, args):
    ticket_id = args["ticket_id"]
    before = [c.id for c in fd.comments.list_comments(ticket_id, per_page=2)]
    note = fd.comments.create_note(ticket_id, "<p>Internal note from python-freshdesk</p>", private=True)
    reply = fd.comments.create_reply(ticket_id, "<p>Reply from python-freshdesk</p>")
    after = fd.comments.list_comments(ticket_id)
    with_conversations = fd.tickets.get_ticket(ticket_id, "conversations")
    return {
        "before": before,
        "note": {"id": note.id, "private": note.private, "body": note.body},
        "reply": {"id": reply.id, "private": reply.private, "body": reply.body},
        "after": [{"id": c.id, "private": c.private, "body_text": c.body_text} for c in after],
        "included": [c["id"] for c in with_conversations.conversations],
    }


def solutions(fd, args):
    s = fd.solutions
    categories = s.categories.list_categories()
    folders = [f for c in categories for f in s.folders.list_from_category(c.id)]
    articles = [a for f in folders for a in s.articles.list_from_folder(f.id)]
    one = s.articles.get_article(articles[0].id)
    category = s.categories.create_category(name="Migrated category", description="From the old desk")
    folder = s.folders.create_folder(category.id, name="Migrated folder", description="Folder", visibility=1)
    article = s.articles.create_article(folder.id, title="Migrated article", description="<p>Body</p>", status=2)
    translated = s.articles.create_article_translation(article.id, "de", title="Migrierter Artikel", description="<p>Inhalt</p>", status=2)
    back = s.articles.get_article_translated(article.id, "de")
    return {
        "categories": [c.id for c in categories],
        "folders": [f.id for f in folders],
        "articles": [a.id for a in articles],
        "first_title": one.title,
        "created": {"category": category.id, "folder": folder.id, "article": article.id,
                    "article_folder": article.folder_id, "in_folder": [a.id for a in s.articles.list_from_folder(folder.id)],
                    "translated_title": translated.title, "read_back": back.title},
    }


def create_with_attachment(fd, args):
    data = b"attachment bytes \x00\xff from python-freshdesk"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "evidence.bin")
        with open(path, "wb") as f:
            f.write(data)
        created = fd.tickets.create_ticket(
            "Ticket with an attachment",
            description="<p>See attached</p>",
            email="new.requester@example.com",
            priority=3,
            status=2,
            tags=["migrated", "attachment"],
            attachments=[path],
        )
    plain = fd.tickets.create_ticket("Plain ticket", description="<p>No files</p>", requester_id=args["requester_id"], priority=2)
    back = fd.tickets.get_ticket(created.id)
    attachment = back.attachments[0]
    downloaded = fd._session.get(attachment["attachment_url"]).content
    return {
        "id": created.id,
        "subject": back.subject,
        "priority": back.priority,
        "tags": back.tags,
        "requester_id": back.requester_id,
        "attachment": {"name": attachment["name"], "size": attachment["size"], "bytes_match": downloaded == data},
        "plain": {"id": plain.id, "requester_id": plain.requester_id, "priority": plain.priority},
    }


def contacts(fd, args):
    created = fd.contacts.create_contact(name="Imported Contact", email="imported.contact@example.com", phone="+1 555 0100")
    updated = fd.contacts.update_contact(created.id, job_title="Buyer")
    found = fd.contacts.list_contacts(email="imported.contact@example.com")
    back = fd.contacts.get_contact(created.id)
    company = fd.companies.create_company(name="Imported Company", domains=["imported.example.com"])
    return {
        "id": created.id,
        "view_all_tickets": back.view_all_tickets,
        "description": back.description,
        "job_title": updated.job_title,
        "found": [c.id for c in found],
        "company": {"id": company.id, "name": fd.companies.get_company(company.id).name},
    }


SCENARIOS = {
    "list": list_and_paginate,
    "changed-since": changed_since,
    "filter": filter_tickets,
    "conversations": conversations,
    "solutions": solutions,
    "create-with-attachment": create_with_attachment,
    "contacts": contacts,
}

if __name__ == "__main__":
    name = sys.argv[1]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    print(json.dumps(SCENARIOS[name](client(), arguments)))
