/**
 * A stored frame (`/api/frames/{id}`, fetched with the token — see lib/frames.ts) with boxes
 * drawn as SVG in FRAME coordinates (viewBox = width×height), so they stay on their objects at
 * any displayed size. `children` are drawn inside the same SVG (in frame coordinates too), for
 * pages that add handles or drafts (labeling). `polygons` (mask outlines of the segment stage,
 * flat `[x0, y0, x1, y1, …]` frame pixels) are drawn under the boxes, filled translucent.
 */
import type { ReactNode } from 'react';
import { useFrameImage } from '../lib/frames';
import { svgPoints } from './polygon';

export interface FrameBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  /** Text on the box (class name, confidence). */
  label?: string;
  /** CSS colour; default by `tone`. */
  color?: string;
  /** `defect` (red), `uncertain` (amber, dashed), `label` (blue), `selected` (thick). */
  tone?: 'defect' | 'uncertain' | 'label' | 'selected';
  /** Dashed outline whatever the tone (e.g. a shadow model's boxes). */
  dashed?: boolean;
  /** Put the label under the box (so it does not cover another box's label). */
  labelBelow?: boolean;
}

export interface FramePolygon {
  /** Flat `[x0, y0, x1, y1, …]` in frame pixels (at least 3 points to be drawn). */
  points: readonly number[];
  /** CSS colour; default by `tone`. */
  color?: string;
  tone?: FrameBox['tone'];
}

export interface FrameWithBoxesProps {
  /** The frame result's id; null shows the placeholder. */
  frameId: string | null;
  width: number;
  height: number;
  boxes: readonly FrameBox[];
  /** Mask outlines drawn under the boxes. */
  polygons?: readonly FramePolygon[];
  /** Text alternative describing the frame (e.g. "cam-1 frame 120: FAIL, 2 defects"). */
  alt: string;
  className?: string;
  children?: ReactNode;
}

const TONE_COLOR: Record<NonNullable<FrameBox['tone']>, string> = {
  defect: '#d7261e',
  uncertain: '#c77700',
  label: '#1f5fbf',
  selected: '#7b2cbf',
};

export function FrameWithBoxes({
  frameId,
  width,
  height,
  boxes,
  polygons,
  alt,
  className,
  children,
}: FrameWithBoxesProps) {
  const image = useFrameImage(frameId);
  const stroke = Math.max(2, Math.round(width / 240));
  const fontSize = Math.max(12, Math.round(width / 40));
  return (
    <figure
      className={`frame ${className ?? ''}`}
      style={{ aspectRatio: `${width} / ${height}` }}
      data-frame-id={frameId ?? ''}
    >
      {image.status === 'ready' ? (
        <img src={image.url} alt={alt} width={width} height={height} draggable={false} />
      ) : (
        <div className="frame-placeholder" role="img" aria-label={alt}>
          {image.status === 'loading'
            ? 'Loading frame…'
            : image.status === 'missing'
              ? 'No image stored for this frame'
              : `Image failed: ${image.message}`}
        </div>
      )}
      <svg
        className="frame-boxes"
        viewBox={`0 0 ${width} ${height}`}
        preserveAspectRatio="none"
        aria-hidden="true"
      >
        {polygons?.map((polygon, index) => {
          const points = svgPoints(polygon.points);
          if (points === null) return null;
          const color = polygon.color ?? TONE_COLOR[polygon.tone ?? 'defect'];
          return (
            <polygon
              key={`mask-${index}`}
              className="frame-mask"
              points={points}
              fill={color}
              fillOpacity={0.3}
              stroke={color}
              strokeWidth={Math.max(1, stroke / 2)}
            />
          );
        })}
        {boxes.map((box, index) => {
          const color = box.color ?? TONE_COLOR[box.tone ?? 'defect'];
          return (
            <g key={index}>
              <rect
                x={box.x1}
                y={box.y1}
                width={Math.max(0, box.x2 - box.x1)}
                height={Math.max(0, box.y2 - box.y1)}
                fill="none"
                stroke={color}
                strokeWidth={box.tone === 'selected' ? stroke * 2 : stroke}
                strokeDasharray={
                  box.tone === 'uncertain' || box.dashed === true
                    ? `${stroke * 3} ${stroke * 2}`
                    : undefined
                }
              />
              {box.label !== undefined && (
                <text
                  x={box.x1 + stroke}
                  y={
                    box.labelBelow === true
                      ? Math.min(height - stroke, box.y2 + fontSize)
                      : Math.max(fontSize, box.y1 - stroke)
                  }
                  fill="#fff"
                  stroke={color}
                  strokeWidth={fontSize / 5}
                  paintOrder="stroke"
                  fontSize={fontSize}
                >
                  {box.label}
                </text>
              )}
            </g>
          );
        })}
        {children}
      </svg>
    </figure>
  );
}
