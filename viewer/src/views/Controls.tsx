import { useState } from 'react';
import { runPath, write } from '../api';
import { Confirm, Modal } from './common';

type Command = 'pause' | 'resume' | 'kill' | 'inject_hint';

/** Operator controls for a live run: intervention commands the SDK picks up on its next poll. */
export function Controls({ id }: { id: string }) {
  const [note, setNote] = useState<string>();
  const [ask, setAsk] = useState<'kill' | 'hint'>();
  const [hint, setHint] = useState('');
  const send = async (type: Command, payload: Record<string, unknown> = {}) => {
    try {
      await write('POST', `${runPath(id)}/commands`, { type, payload });
      setNote(`${type.replace('_', ' ')} sent`);
    } catch (e) {
      setNote(`${type} refused: ${(e as Error).message}`);
      throw e;
    }
  };
  return (
    <div className="controls" data-testid="controls">
      <button type="button" onClick={() => void send('pause').catch(() => undefined)}>
        Pause
      </button>
      <button type="button" onClick={() => void send('resume').catch(() => undefined)}>
        Resume
      </button>
      <button type="button" onClick={() => setAsk('hint')}>
        Hint…
      </button>
      <button type="button" className="danger" onClick={() => setAsk('kill')}>
        Kill
      </button>
      {note && <span className="muted small" role="status">{note}</span>}
      {ask === 'kill' && <Confirm title="Kill this run?" body={<p>The agent stops at its next command poll. This cannot be undone.</p>} action="Kill run" danger onConfirm={() => send('kill')} onClose={() => setAsk(undefined)} />}
      {ask === 'hint' && (
        <Modal title="Send a hint to the agent" onClose={() => setAsk(undefined)}>
          <form
            onSubmit={async (e) => {
              e.preventDefault();
              if (!hint.trim()) return;
              await send('inject_hint', { text: hint.trim() }).catch(() => undefined);
              setHint('');
              setAsk(undefined);
            }}
          >
            <textarea value={hint} onChange={(e) => setHint(e.target.value)} rows={4} placeholder="e.g. The submit button is below the fold; scroll first." />
            <div className="modal-actions">
              <button type="button" onClick={() => setAsk(undefined)}>
                Cancel
              </button>
              <button type="submit" className="primary">
                Send hint
              </button>
            </div>
          </form>
        </Modal>
      )}
    </div>
  );
}
