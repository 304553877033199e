/**
 * A drop zone for files that a panel reads itself (an e-mail to route, messages or text to train
 * on): it takes the drop, so the page-wide drop (a model import, App.tsx) never sees it, and it
 * marks itself while files are dragged over it. What the files mean is the panel's business.
 */
import { useState, type ReactNode } from 'react';

export function FileDrop(props: {
  testId: string;
  onFiles: (files: File[]) => void;
  children: ReactNode;
  /** The zone's look (styles.css): 'mail-drop' (a text panel's column) or 'drop-zone' (a dashed box). */
  look?: 'mail-drop' | 'drop-zone';
}) {
  const [over, setOver] = useState(false);
  return (
    <div
      className={`${props.look ?? 'mail-drop'}${over ? ' over' : ''}`}
      data-testid={props.testId}
      onDragOver={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        e.stopPropagation();
        setOver(false);
        props.onFiles(Array.from(e.dataTransfer.files));
      }}
    >
      {props.children}
    </div>
  );
}
