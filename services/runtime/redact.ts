/** Remembers secret values and scrubs them from any text before it is printed or logged. */
export class Redactor {
  private readonly secrets = new Set<string>();

  add(...values: (string | undefined | null)[]): void {
    for (const value of values) {
      if (!value || value.length < 4) continue;
      this.secrets.add(value);
      // Basic-auth headers carry secrets base64-encoded.
      this.secrets.add(Buffer.from(value).toString('base64'));
    }
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('***');
    return out;
  }
}

export const redactor = new Redactor();
