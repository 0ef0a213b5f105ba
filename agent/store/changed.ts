import { EXIT, FerryError } from '../errors.ts';

/**
 * A read refused because the object no longer has the ETag it was first read with (412 on a ranged
 * read pinned with If-Match): something wrote it again while it was downloaded. Every store throws
 * this one error for it, so the download can start again once with the new version.
 */
export class ObjectChanged extends FerryError {
  constructor(target: string, cause?: unknown, again = false) {
    super(
      again
        ? 'the object changed again while it was downloaded a second time'
        : 'the object changed while it was downloaded (it no longer has the ETag read at the start)',
      {
        phase: 'download',
        target,
        cause,
        exitCode: EXIT.unavailable,
        hint: again
          ? 'something keeps writing the input: wait until it is done, then re-run the row'
          : 'something wrote the input again meanwhile: ferry downloads it again from the start, once',
      },
    );
  }
}

/** A `.catch` for a ranged read: the store's precondition failure (its `is412`) becomes ObjectChanged. */
export function changedWhen(is412: (err: unknown) => boolean, target: string): (err: unknown) => never {
  return (err) => {
    throw is412(err) ? new ObjectChanged(target, err) : err;
  };
}
