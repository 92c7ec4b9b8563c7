import type { KbArticle, KbCategory, KbSection } from '../../schemas/canonical.ts';
import type { RtClient, RtRef } from './rt.client.ts';
import { plainToHtml, rtTime } from './rt.mapping.ts';

/**
 * RT Articles as a knowledge base. RT files each article in one Class and keeps its text in
 * article custom fields (`Content` in a stock install); Topics exist but REST2 does not expose
 * them. So a Class reads as a KB category holding one section of the same name and ID, and an
 * article's body is its `Content` field. RT has no article locales, drafts or tags.
 */
export const RT_KB_LOCALE = 'en-us';
export const RT_CONTENT_FIELD = 'Content';

interface RtClass {
  id: string | number;
  Name: string;
  Description?: string;
  SortOrder?: string | number;
  Disabled?: string | number;
  Created?: string;
  LastUpdated?: string;
}

interface RtArticle {
  id: string | number;
  Name: string;
  SortOrder?: string | number;
  Disabled?: string | number;
  Class: RtRef;
  Creator?: RtRef;
  Created?: string;
  LastUpdated?: string;
  CustomFields?: { id: string; name: string; values: string[] }[];
}

const ARTICLE_FIELDS = 'Name,SortOrder,Disabled,Class,Creator,Created,LastUpdated,CustomFields';

export class RtArticles {
  /** Content field ID → whether it holds HTML (RT 5 offers HTML custom fields; the stock one is Text). */
  private readonly htmlFields = new Map<string, Promise<boolean>>();

  constructor(
    private readonly client: RtClient,
    private readonly userId: (ref: RtRef | undefined) => Promise<string | null>,
  ) {}

  async classes(): Promise<RtClass[]> {
    const all = await this.client.all<RtClass>('classes/all', { fields: 'Name,Description,SortOrder,Disabled,Created,LastUpdated' });
    return all.filter((c) => Number(c.Disabled ?? 0) === 0);
  }

  category(c: RtClass): KbCategory {
    return {
      sourceId: String(c.id),
      name: c.Name,
      description: c.Description ? c.Description : null,
      locale: RT_KB_LOCALE,
      position: Number(c.SortOrder ?? 0),
      createdAt: rtTime(c.Created),
      updatedAt: rtTime(c.LastUpdated ?? c.Created),
    };
  }

  /** The one section every class reads as: same ID and name as the class. */
  section(c: RtClass): KbSection {
    const category = this.category(c);
    return { ...category, categoryId: category.sourceId, position: 0 };
  }

  async classById(id: string): Promise<RtClass | null> {
    const res = await this.client.get<RtClass>(`class/${encodeURIComponent(id)}`, undefined, [404]);
    if (res.status === 404 || Number(res.body.Disabled ?? 0) !== 0) return null;
    return res.body;
  }

  /** Enabled articles, page by page (a disabled article is RT's deleted one). */
  async *articlePages(): AsyncIterable<KbArticle[]> {
    for await (const items of this.client.pages<RtArticle>('articles', { fields: ARTICLE_FIELDS, 'fields[Creator]': 'id,Name', orderby: 'id' }, [{ field: 'id', operator: '>', value: 0 }])) {
      const enabled = items.filter((a) => Number(a.Disabled ?? 0) === 0);
      yield Promise.all(enabled.map((a) => this.article(a)));
    }
  }

  async articleById(id: string): Promise<KbArticle | null> {
    const res = await this.client.get<RtArticle>(`article/${encodeURIComponent(id)}`, undefined, [404]);
    if (res.status === 404 || Number(res.body.Disabled ?? 0) !== 0) return null;
    return this.article(res.body);
  }

  private async article(a: RtArticle): Promise<KbArticle> {
    const content = (a.CustomFields ?? []).find((cf) => cf.name === RT_CONTENT_FIELD);
    const text = content?.values?.[0] ?? '';
    const html = content && text ? await this.isHtmlField(String(content.id)) : false;
    const classId = typeof a.Class === 'object' ? String(a.Class.id) : String(a.Class);
    const createdAt = rtTime(a.Created);
    return {
      sourceId: String(a.id),
      sectionId: classId,
      authorId: await this.userId(a.Creator),
      locale: RT_KB_LOCALE,
      title: a.Name,
      body: html ? text : plainToHtml(text),
      draft: false,
      tags: [],
      position: Number(a.SortOrder ?? 0),
      createdAt,
      updatedAt: rtTime(a.LastUpdated ?? a.Created),
      translations: [],
    };
  }

  private isHtmlField(id: string): Promise<boolean> {
    let known = this.htmlFields.get(id);
    if (!known) {
      known = this.client.get<{ Type?: string }>(`customfield/${id}`).then((res) => res.body.Type === 'HTML');
      known.catch(() => this.htmlFields.delete(id));
      this.htmlFields.set(id, known);
    }
    return known;
  }
}
