/**
 * jsdom does no layout: every size is 0 and elements cannot scroll. The
 * virtualizer needs a viewport and row heights, so these give it a fixed
 * viewport for `.message-scroll` and a fixed height for each `.message-row`.
 */
export function fakeLayout({ viewport = 600, width = 800, rowHeight = 40 } = {}): () => void {
  const proto = HTMLElement.prototype;
  const saved = ['clientHeight', 'clientWidth', 'offsetHeight', 'offsetWidth', 'scrollHeight'].map((k) => [k, Object.getOwnPropertyDescriptor(proto, k)] as const);
  const savedScrollTo = Element.prototype.scrollTo;
  const define = (key: string, get: (this: HTMLElement) => number) => Object.defineProperty(proto, key, { configurable: true, get });
  define('clientHeight', function () {
    return this.classList.contains('message-scroll') ? viewport : 0;
  });
  define('clientWidth', function () {
    return this.classList.contains('message-scroll') ? width : 0;
  });
  define('offsetHeight', function () {
    return this.classList.contains('message-row') ? rowHeight : 0;
  });
  define('offsetWidth', function () {
    return this.classList.contains('message-row') ? width : 0;
  });
  define('scrollHeight', function () {
    const canvas = this.firstElementChild as HTMLElement | null;
    return parseFloat(canvas?.style.height ?? '0') || 0;
  });
  Element.prototype.scrollTo = function (this: Element, arg?: ScrollToOptions | number, y?: number) {
    const top = typeof arg === 'object' ? arg.top : y;
    if (top !== undefined) this.scrollTop = top;
    this.dispatchEvent(new Event('scroll'));
  } as Element['scrollTo'];
  return () => {
    for (const [k, d] of saved) if (d) Object.defineProperty(proto, k, d);
    Element.prototype.scrollTo = savedScrollTo;
  };
}

/** Scrolls like a user would: move, then fire the event the virtualizer listens to. */
export function scrollTo(el: Element, top: number): void {
  el.scrollTop = top;
  el.dispatchEvent(new Event('scroll'));
}
