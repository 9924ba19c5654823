import { isObj, num, str } from '../util';
import { JsonBlock } from './common';

/** One model call: who was asked what (system, messages with their images, tools) and what came back. */
export function ModelIo({ name, rec }: { name: string; rec: Record<string, unknown> }) {
  const req = isObj(rec.request) ? rec.request : {};
  const res = isObj(rec.response) ? rec.response : undefined;
  const usage = res && isObj(res.usage) ? res.usage : undefined;
  return (
    <article className="modelio">
      <header>
        <strong>{name}</strong>{' '}
        <span className="muted small">
          {[str(req.model), str(rec.layer), num(rec.duration_ms) !== undefined ? `${rec.duration_ms} ms` : undefined, rec.redaction_applied ? 'redacted' : undefined].filter(Boolean).join(' · ')}
        </span>
      </header>
      <h5>Request</h5>
      {str(req.system) && (
        <div className="msg system">
          <div className="role">system</div>
          <Text text={String(req.system)} />
        </div>
      )}
      {Array.isArray(req.messages) &&
        req.messages.filter(isObj).map((m, k) => (
          <div key={k} className={`msg ${str(m.role)}`}>
            <div className="role">{str(m.role)}</div>
            <Content content={m.content} />
          </div>
        ))}
      {req.tools !== undefined && (
        <details>
          <summary>tools</summary>
          <JsonBlock value={req.tools} open />
        </details>
      )}
      {req.params !== undefined && (
        <details>
          <summary>params</summary>
          <JsonBlock value={req.params} open />
        </details>
      )}
      <h5>Response</h5>
      {!res && <p className="muted">No response recorded.</p>}
      {res && (
        <div className="msg assistant">
          {str(res.text) && <Text text={String(res.text)} />}
          {res.content !== undefined && <Content content={res.content} />}
          {Array.isArray(res.tool_calls) &&
            res.tool_calls.filter(isObj).map((t, k) => (
              <div key={k} className="tool">
                <span className="kind">tool</span> {str(t.name)} <JsonBlock value={t.input} limit={600} />
              </div>
            ))}
          {str(res.stop_reason) && <div className="muted small">stop: {String(res.stop_reason)}</div>}
          {usage && (
            <div className="muted small">
              {Object.entries(usage)
                .map(([k, v]) => `${k} ${String(v)}`)
                .join(' · ')}
            </div>
          )}
        </div>
      )}
      <details>
        <summary>raw record</summary>
        <JsonBlock value={rec} />
      </details>
    </article>
  );
}

const LONG = 2000;

function Text({ text }: { text: string }) {
  if (text.length <= LONG) return <p className="text">{text}</p>;
  return (
    <details className="text">
      <summary>
        {text.slice(0, 200)}… ({text.length.toLocaleString()} characters)
      </summary>
      <p>{text}</p>
    </details>
  );
}

/** Only images Augur can show without fetching from another host: data: URLs built from base64 sources. */
function imageSrc(part: Record<string, unknown>): string | undefined {
  const src = isObj(part.source) ? part.source : isObj(part.image_url) ? part.image_url : part;
  const data = str(src.data) ?? str(src.base64);
  if (data) return `data:${str(src.media_type) ?? str(src.mime_type) ?? 'image/png'};base64,${data}`;
  const url = str(src.url) ?? (typeof part.image_url === 'string' ? part.image_url : undefined);
  if (url?.startsWith('data:image/')) return url;
  return undefined;
}

function Content({ content }: { content: unknown }) {
  if (typeof content === 'string') return <Text text={content} />;
  if (!Array.isArray(content)) return content === undefined ? null : <JsonBlock value={content} limit={600} />;
  return (
    <>
      {content.map((p, k) => {
        if (!isObj(p)) return <JsonBlock key={k} value={p} />;
        const type = str(p.type);
        if (type === 'text' || type === 'input_text' || type === 'output_text') return <Text key={k} text={str(p.text) ?? ''} />;
        if (type === 'image' || type === 'image_url' || type === 'input_image') {
          const src = imageSrc(p);
          return src ? (
            <img key={k} className="msg-img" src={src} alt="image sent to the model" loading="lazy" />
          ) : (
            <div key={k} className="muted small">
              [image {str((p.source as Record<string, unknown> | undefined)?.url) ?? 'not stored'}]
            </div>
          );
        }
        if (type === 'tool_use' || type === 'tool_result')
          return (
            <div key={k} className="tool">
              <span className="kind">{type}</span> {str(p.name)} <JsonBlock value={p.input ?? p.content} limit={600} />
            </div>
          );
        return <JsonBlock key={k} value={p} limit={600} />;
      })}
    </>
  );
}
