export { Redactor, redactor, SHORT_SECRET } from '../../connectors/sdk/redact.ts';
