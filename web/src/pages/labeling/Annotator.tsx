/**
 * The box editor: the shared FrameWithBoxes (image + SVG in FRAME coordinates, viewBox = frame
 * size) with an interactive layer inside its SVG — draw (in drawing mode, drag on the frame),
 * move (drag a box), resize (drag one of the selected box's eight handles), select (click).
 * Pointer positions are mapped to frame pixels with the SVG's screen matrix, so the boxes stay
 * on their objects at any window size. Every finished drag is ONE annotation action (one undo
 * step); the drag itself is a local preview.
 *
 * Mask outlines: each box's polygon is drawn filled in its class colour; while an outline is
 * being drawn (`annotation.polygonDraft`) a click on the frame adds a point (clicking the first
 * point closes it); the selected box's outline shows its points as handles to drag (one undo
 * step per drag) and a double click on a point removes it.
 *
 * Keys are handled by the page (shortcuts.ts); this component only draws and takes the mouse.
 */
import type { PointerEvent as ReactPointerEvent } from 'react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { FrameWithBoxes } from '../../components/FrameWithBoxes';
import { svgPoints } from '../../components/polygon';
import type { AnnotationAction, AnnotationState, Handle, Rect } from './annotation';
import {
  HANDLES,
  clampToRect,
  closeDistance,
  handlePoint,
  isBigEnough,
  moveRect,
  rectFromPoints,
  resizeRect,
} from './annotation';

/** Class colours, by class index (the class name is always written on the box too). */
const PALETTE = [
  '#d7261e',
  '#1f5fbf',
  '#1a7f37',
  '#8a2be2',
  '#c77700',
  '#00838f',
  '#ad1457',
  '#5d4037',
  '#37474f',
];

export function classColor(classes: readonly string[], className: string): string {
  const index = classes.indexOf(className);
  return PALETTE[(index === -1 ? PALETTE.length - 1 : index) % PALETTE.length] ?? '#37474f';
}

type Drag =
  | { kind: 'draw'; ax: number; ay: number; bx: number; by: number }
  | { kind: 'move'; id: number; origin: Rect; ax: number; ay: number; bx: number; by: number }
  | { kind: 'resize'; id: number; origin: Rect; handle: Handle; bx: number; by: number }
  | { kind: 'vertex'; id: number; index: number; bx: number; by: number };

const HANDLE_CURSOR: Record<Handle, string> = {
  nw: 'nwse-resize',
  se: 'nwse-resize',
  ne: 'nesw-resize',
  sw: 'nesw-resize',
  n: 'ns-resize',
  s: 'ns-resize',
  e: 'ew-resize',
  w: 'ew-resize',
};

export interface AnnotatorProps {
  frameId: string | null;
  annotation: AnnotationState;
  dispatch: (action: AnnotationAction) => void;
  classes: readonly string[];
  /** The class a new box gets. */
  activeClass: string;
  readOnly: boolean;
  drawing: boolean;
  /** Called when a drawn box is finished (the page leaves drawing mode). */
  onDrawn: () => void;
  /** The last pointer position over the frame, frame pixels (for placing a box from the keyboard). */
  pointer: { current: { x: number; y: number } | null };
  alt: string;
}

export function Annotator({
  frameId,
  annotation,
  dispatch,
  classes,
  activeClass,
  readOnly,
  drawing,
  onDrawn,
  pointer,
  alt,
}: AnnotatorProps) {
  const { width, height, boxes, selected } = annotation;
  const surfaceRef = useRef<SVGRectElement>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const dragRef = useRef<Drag | null>(null);
  const [hover, setHover] = useState<{ x: number; y: number } | null>(null);

  const toFrame = useCallback(
    (clientX: number, clientY: number): { x: number; y: number } | null => {
      const svg = surfaceRef.current?.ownerSVGElement;
      const matrix = svg?.getScreenCTM();
      if (matrix === null || matrix === undefined) return null;
      const point = new DOMPoint(clientX, clientY).matrixTransform(matrix.inverse());
      return {
        x: Math.min(width, Math.max(0, point.x)),
        y: Math.min(height, Math.max(0, point.y)),
      };
    },
    [width, height],
  );

  const setDragState = (next: Drag | null) => {
    dragRef.current = next;
    setDrag(next);
  };

  const finish = useCallback(() => {
    const current = dragRef.current;
    dragRef.current = null;
    setDrag(null);
    if (current === null) return;
    if (current.kind === 'draw') {
      const box = rectFromPoints(current.ax, current.ay, current.bx, current.by, width, height);
      if (isBigEnough(box)) {
        dispatch({ type: 'add', box, className: activeClass });
        onDrawn();
      }
    } else if (current.kind === 'move') {
      const box = moveRect(
        current.origin,
        current.bx - current.ax,
        current.by - current.ay,
        width,
        height,
      );
      dispatch({ type: 'set-box', id: current.id, box });
    } else if (current.kind === 'vertex') {
      dispatch({
        type: 'move-vertex',
        id: current.id,
        index: current.index,
        x: current.bx,
        y: current.by,
      });
    } else {
      const box = resizeRect(current.origin, current.handle, current.bx, current.by, width, height);
      dispatch({ type: 'set-box', id: current.id, box });
    }
  }, [activeClass, dispatch, height, onDrawn, width]);

  // While dragging, follow the pointer anywhere on the page.
  useEffect(() => {
    if (drag === null) return;
    const onMove = (event: PointerEvent) => {
      const point = toFrame(event.clientX, event.clientY);
      const current = dragRef.current;
      if (point === null || current === null) return;
      setDragState({ ...current, bx: point.x, by: point.y });
    };
    const onUp = () => finish();
    window.addEventListener('pointermove', onMove);
    window.addEventListener('pointerup', onUp);
    window.addEventListener('pointercancel', onUp);
    return () => {
      window.removeEventListener('pointermove', onMove);
      window.removeEventListener('pointerup', onUp);
      window.removeEventListener('pointercancel', onUp);
    };
  }, [drag !== null, finish, toFrame]); // eslint-disable-line react-hooks/exhaustive-deps

  const start = (event: ReactPointerEvent, make: (x: number, y: number) => Drag | null) => {
    if (readOnly || event.button !== 0) return;
    const point = toFrame(event.clientX, event.clientY);
    if (point === null) return;
    event.preventDefault();
    event.stopPropagation();
    setDragState(make(point.x, point.y));
  };

  const draftPolygon = annotation.polygonDraft;
  const outlining = draftPolygon !== null && !readOnly;

  const onSurfaceDown = (event: ReactPointerEvent) => {
    if (outlining) {
      if (event.button !== 0) return;
      const point = toFrame(event.clientX, event.clientY);
      if (point === null) return;
      event.preventDefault();
      dispatch({ type: 'polygon-point', x: point.x, y: point.y });
    } else if (drawing) {
      start(event, (x, y) => ({ kind: 'draw', ax: x, ay: y, bx: x, by: y }));
    } else if (!readOnly) {
      dispatch({ type: 'select', id: null });
    }
  };

  const onHover = (event: ReactPointerEvent) => {
    const point = toFrame(event.clientX, event.clientY);
    pointer.current = point;
    if (drawing || outlining) setHover(point);
  };

  const preview = (id: number, box: Rect): Rect => {
    if (drag === null || drag.kind === 'draw' || drag.kind === 'vertex' || drag.id !== id)
      return box;
    return drag.kind === 'move'
      ? moveRect(drag.origin, drag.bx - drag.ax, drag.by - drag.ay, width, height)
      : resizeRect(drag.origin, drag.handle, drag.bx, drag.by, width, height);
  };

  const fontSize = Math.max(12, Math.round(width / 42));
  const handleSize = Math.max(6, Math.round(width / 64));
  const selectedBox = boxes.find((box) => box.id === selected);
  const vertexRadius = Math.max(4, Math.round(width / 110));
  /** A box's outline as drawn now (a dragged point where the pointer is). */
  const outlineOf = (id: number, polygon: readonly number[] | undefined, box: Rect) => {
    if (polygon === undefined) return undefined;
    if (drag?.kind === 'vertex' && drag.id === id) {
      const moved = polygon.slice();
      const [x, y] = clampToRect(drag.bx, drag.by, box);
      moved[drag.index * 2] = x;
      moved[drag.index * 2 + 1] = y;
      return moved;
    }
    return polygon;
  };
  const draftBox = boxes.find((box) => box.id === draftPolygon?.id);
  const draft =
    drag?.kind === 'draw'
      ? rectFromPoints(drag.ax, drag.ay, drag.bx, drag.by, width, height)
      : null;

  return (
    <div
      className={`labeling-annotator${drawing || outlining ? ' is-drawing' : ''}${readOnly ? ' is-readonly' : ''}`}
      data-boxes={boxes.length}
      data-outlining={outlining ? draftPolygon.id : ''}
    >
      <FrameWithBoxes frameId={frameId} width={width} height={height} boxes={[]} alt={alt}>
        <g
          className="labeling-layer"
          onPointerMove={onHover}
          onPointerLeave={() => {
            pointer.current = null;
            setHover(null);
          }}
        >
          <rect
            ref={surfaceRef}
            x={0}
            y={0}
            width={width}
            height={height}
            fill="transparent"
            style={{ cursor: drawing || outlining ? 'crosshair' : 'default' }}
            onPointerDown={onSurfaceDown}
          />
          {boxes.map((box) => {
            const outline = outlineOf(box.id, box.polygon, box.box);
            const points = outline === undefined ? null : svgPoints(outline);
            if (points === null) return null;
            const color = classColor(classes, box.className);
            return (
              <polygon
                key={`mask-${box.id}`}
                data-mask-of={box.id}
                points={points}
                fill={`${color}44`}
                stroke={color}
                strokeWidth={box.id === selected ? 2.5 : 1.5}
                vectorEffect="non-scaling-stroke"
                pointerEvents="none"
              />
            );
          })}
          {boxes.map((box) => {
            const rect = preview(box.id, box.box);
            const color = classColor(classes, box.className);
            const isSelected = box.id === selected;
            const text =
              box.origin === 'model' && box.confidence !== undefined
                ? `${box.className} ${box.confidence.toFixed(2)} · model`
                : box.className;
            return (
              <g
                key={box.id}
                data-box-id={box.id}
                data-class={box.className}
                data-selected={isSelected}
              >
                <rect
                  x={rect.x1}
                  y={rect.y1}
                  width={rect.x2 - rect.x1}
                  height={rect.y2 - rect.y1}
                  fill={isSelected ? `${color}22` : 'transparent'}
                  stroke={color}
                  strokeWidth={isSelected ? 4 : 2}
                  vectorEffect="non-scaling-stroke"
                  strokeDasharray={box.origin === 'model' ? '8 4' : undefined}
                  style={{ cursor: readOnly || drawing || outlining ? undefined : 'move' }}
                  pointerEvents={readOnly || drawing || outlining ? 'none' : 'visiblePainted'}
                  onPointerDown={(event) => {
                    if (drawing) return;
                    dispatch({ type: 'select', id: box.id });
                    start(event, (x, y) => ({
                      kind: 'move',
                      id: box.id,
                      origin: box.box,
                      ax: x,
                      ay: y,
                      bx: x,
                      by: y,
                    }));
                  }}
                />
                <text
                  x={rect.x1 + 2}
                  y={rect.y1 > fontSize + 2 ? rect.y1 - 4 : rect.y1 + fontSize + 2}
                  fill="#fff"
                  stroke={color}
                  strokeWidth={fontSize / 4}
                  paintOrder="stroke"
                  fontSize={fontSize}
                  pointerEvents="none"
                >
                  {isSelected ? `▶ ${text}` : text}
                </text>
              </g>
            );
          })}
          {!readOnly &&
            !drawing &&
            !outlining &&
            selectedBox !== undefined &&
            HANDLES.map((handle) => {
              const rect = preview(selectedBox.id, selectedBox.box);
              const point = handlePoint(rect, handle);
              return (
                <rect
                  key={handle}
                  data-handle={handle}
                  x={point.x - handleSize / 2}
                  y={point.y - handleSize / 2}
                  width={handleSize}
                  height={handleSize}
                  fill="#fff"
                  stroke="#111"
                  strokeWidth={1.5}
                  vectorEffect="non-scaling-stroke"
                  style={{ cursor: HANDLE_CURSOR[handle] }}
                  onPointerDown={(event) =>
                    start(event, (x, y) => ({
                      kind: 'resize',
                      id: selectedBox.id,
                      origin: selectedBox.box,
                      handle,
                      bx: x,
                      by: y,
                    }))
                  }
                />
              );
            })}
          {!readOnly &&
            !drawing &&
            !outlining &&
            selectedBox?.polygon !== undefined &&
            (outlineOf(selectedBox.id, selectedBox.polygon, selectedBox.box) ?? []).map(
              (value, position, all) => {
                if (position % 2 === 1) return null;
                const index = position / 2;
                return (
                  <circle
                    key={`vertex-${index}`}
                    data-vertex={index}
                    cx={value}
                    cy={all[position + 1]}
                    r={vertexRadius}
                    fill="#fff"
                    stroke="#111"
                    strokeWidth={1.5}
                    vectorEffect="non-scaling-stroke"
                    style={{ cursor: 'grab' }}
                    onDoubleClick={() =>
                      dispatch({ type: 'delete-vertex', id: selectedBox.id, index })
                    }
                    onPointerDown={(event) =>
                      start(event, (x, y) => ({
                        kind: 'vertex',
                        id: selectedBox.id,
                        index,
                        bx: x,
                        by: y,
                      }))
                    }
                  />
                );
              },
            )}
          {outlining && draftBox !== undefined && (
            <g pointerEvents="none" data-outline-draft={draftPolygon.points.length / 2}>
              <rect
                x={draftBox.box.x1}
                y={draftBox.box.y1}
                width={draftBox.box.x2 - draftBox.box.x1}
                height={draftBox.box.y2 - draftBox.box.y1}
                fill="none"
                stroke="#fff"
                strokeWidth={2}
                strokeDasharray="6 3"
                vectorEffect="non-scaling-stroke"
              />
              <polyline
                points={[
                  ...draftPolygon.points,
                  ...(hover === null ? [] : clampToRect(hover.x, hover.y, draftBox.box)),
                ].join(' ')}
                fill="none"
                stroke={classColor(classes, draftBox.className)}
                strokeWidth={2}
                vectorEffect="non-scaling-stroke"
              />
              {draftPolygon.points.map((value, position, all) =>
                position % 2 === 1 ? null : (
                  <circle
                    key={position}
                    cx={value}
                    cy={all[position + 1]}
                    r={
                      position === 0
                        ? Math.max(vertexRadius, closeDistance(draftBox.box))
                        : vertexRadius
                    }
                    fill={position === 0 ? '#ffeb3b' : '#fff'}
                    stroke="#111"
                    strokeWidth={1.5}
                    vectorEffect="non-scaling-stroke"
                  />
                ),
              )}
            </g>
          )}
          {draft !== null && (
            <rect
              x={draft.x1}
              y={draft.y1}
              width={draft.x2 - draft.x1}
              height={draft.y2 - draft.y1}
              fill="none"
              stroke={classColor(classes, activeClass)}
              strokeWidth={2}
              strokeDasharray="4 3"
              vectorEffect="non-scaling-stroke"
              pointerEvents="none"
            />
          )}
          {(drawing || outlining) && hover !== null && drag === null && (
            <g
              pointerEvents="none"
              stroke="#fff"
              strokeWidth={1}
              vectorEffect="non-scaling-stroke"
              opacity={0.8}
            >
              <line
                x1={hover.x}
                y1={0}
                x2={hover.x}
                y2={height}
                vectorEffect="non-scaling-stroke"
              />
              <line x1={0} y1={hover.y} x2={width} y2={hover.y} vectorEffect="non-scaling-stroke" />
            </g>
          )}
        </g>
      </FrameWithBoxes>
    </div>
  );
}
