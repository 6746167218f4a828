import { describe, expect, it } from 'vitest';
import { isVisionLoopError } from '../shared/errors.js';
import { loadServerConfig, sqliteUrlFor } from './server.config.js';

describe('loadServerConfig', () => {
  it('derives every path from the data directory by default', () => {
    const config = loadServerConfig({}, {}, '/srv/vl');
    expect(config).toMatchObject({
      dataDir: '/srv/vl/data',
      databaseUrl: 'sqlite:///srv/vl/data/visionloop.db',
      blobDir: '/srv/vl/data/blobs',
      adminTokenFile: '/srv/vl/data/admin-token',
      host: '127.0.0.1',
      port: 8080,
      bodyLimitBytes: 16 * 1024 * 1024,
      frameLimitBytes: 8 * 1024 * 1024,
      logLevel: 'info',
      heartbeatIntervalMs: 10_000,
      loopbackReads: true,
      recentWindowMs: 600_000,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes a seed model path, or none for an empty registry', () => {
    expect(loadServerConfig({}, {}, '/srv').seedModel).toBeUndefined();
    expect(loadServerConfig({ VISIONLOOP_SEED_MODEL: 'none' }, {}, '/srv').seedModel).toBeNull();
    expect(loadServerConfig({ VISIONLOOP_SEED_MODEL: 'm/a.onnx' }, {}, '/srv').seedModel).toBe(
      '/srv/m/a.onnx',
    );
  });

  it('treats an empty variable as unset', () => {
    const config = loadServerConfig({ PORT: '', DATABASE_URL: '', HOST: '' }, {}, '/srv/vl');
    expect(config.port).toBe(8080);
    expect(config.host).toBe('127.0.0.1');
    expect(config.databaseUrl).toBe('sqlite:///srv/vl/data/visionloop.db');
  });

  it('lets flags override the environment, and the data dir move the derived paths', () => {
    const config = loadServerConfig(
      {
        HOST: '0.0.0.0',
        PORT: '9000',
        VISIONLOOP_DATA_DIR: '/var/a',
        DATABASE_URL: 'postgres://x@h/db',
      },
      { port: 0, dataDir: 'rel' },
      '/home/u',
    );
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(0);
    expect(config.dataDir).toBe('/home/u/rel');
    expect(config.blobDir).toBe('/home/u/rel/blobs');
    expect(config.databaseUrl).toBe('postgres://x@h/db');
  });

  it('resolves explicit blob and token paths against the working directory', () => {
    const config = loadServerConfig(
      {
        VISIONLOOP_BLOB_DIR: 'b',
        VISIONLOOP_ADMIN_TOKEN_FILE: '/etc/vl/token',
        VISIONLOOP_LOOPBACK_READS: 'off',
      },
      {},
      '/w',
    );
    expect(config.blobDir).toBe('/w/b');
    expect(config.adminTokenFile).toBe('/etc/vl/token');
    expect(config.loopbackReads).toBe(false);
  });

  it('lists every problem at once', () => {
    let caught: unknown;
    try {
      loadServerConfig({
        PORT: '70000',
        VISIONLOOP_LOG_LEVEL: 'loud',
        VISIONLOOP_BODY_LIMIT_BYTES: '5',
      });
    } catch (error) {
      caught = error;
    }
    expect(isVisionLoopError(caught) && caught.code).toBe('CONFIG_INVALID');
    const message = caught instanceof Error ? caught.message : '';
    expect(message).toContain('PORT');
    expect(message).toContain('VISIONLOOP_LOG_LEVEL');
    expect(message).toContain('VISIONLOOP_BODY_LIMIT_BYTES');
  });

  it('escapes URL-significant characters in the default SQLite path', () => {
    expect(sqliteUrlFor('/data/a#b?c%d.db')).toBe('sqlite:///data/a%23b%3Fc%25d.db');
  });
});

describe('blob storage configuration', () => {
  it('keeps blobs in the blob directory by default', () => {
    expect(loadServerConfig({}, {}, '/srv/vl').blobStorage).toEqual({
      kind: 'local',
      dir: '/srv/vl/data/blobs',
    });
  });

  it('reads an s3:// URL and the usual AWS variables', () => {
    const config = loadServerConfig(
      {
        VISIONLOOP_BLOB_URL: 's3://vl-prod/plant-a/blobs/',
        AWS_ENDPOINT_URL: 'http://minio:9000',
        AWS_REGION: 'eu-central-1',
        AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'secret',
      },
      {},
      '/srv',
    );
    expect(config.blobStorage).toEqual({
      kind: 's3',
      bucket: 'vl-prod',
      prefix: 'plant-a/blobs/',
      endpoint: 'http://minio:9000',
      region: 'eu-central-1',
      credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secret' },
      // A custom endpoint defaults to path-style URLs (MinIO, Ceph RGW).
      forcePathStyle: true,
      silenceNodeVersionWarning: true,
    });
  });

  it('defaults to AWS: us-east-1, virtual-hosted URLs, the SDK credential chain', () => {
    const { blobStorage } = loadServerConfig({ VISIONLOOP_BLOB_URL: 's3://frames' }, {}, '/srv');
    expect(blobStorage).toEqual({
      kind: 's3',
      bucket: 'frames',
      prefix: '',
      endpoint: undefined,
      region: 'us-east-1',
      credentials: undefined,
      forcePathStyle: false,
      silenceNodeVersionWarning: true,
    });
    const pinned = loadServerConfig(
      {
        VISIONLOOP_BLOB_URL: 's3://frames',
        AWS_DEFAULT_REGION: 'ap-south-1',
        VISIONLOOP_S3_FORCE_PATH_STYLE: 'true',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false',
      },
      {},
      '/srv',
    ).blobStorage;
    expect(pinned).toMatchObject({
      region: 'ap-south-1',
      forcePathStyle: true,
      silenceNodeVersionWarning: false,
    });
  });

  it('refuses a bad bucket, another scheme, and half a key pair', () => {
    const messageOf = (env: Record<string, string>): string => {
      try {
        loadServerConfig(env, {}, '/srv');
      } catch (error) {
        expect(isVisionLoopError(error) && error.code).toBe('CONFIG_INVALID');
        return (error as Error).message;
      }
      throw new Error('expected CONFIG_INVALID');
    };
    expect(messageOf({ VISIONLOOP_BLOB_URL: 'http://bucket/x' })).toContain('s3://bucket/prefix');
    expect(messageOf({ VISIONLOOP_BLOB_URL: 's3://Bad_Bucket/x' })).toContain(
      'not a valid S3 bucket name',
    );
    expect(
      messageOf({ VISIONLOOP_BLOB_URL: 's3://frames', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }),
    ).toContain('set both or neither');
  });
});

describe('event fan-out configuration', () => {
  it('fans frame events out by default and can keep them per replica', () => {
    expect(loadServerConfig({}, {}, '/srv').fanOutFrames).toBe(true);
    expect(
      loadServerConfig({ VISIONLOOP_EVENTS_FANOUT_FRAMES: 'false' }, {}, '/srv').fanOutFrames,
    ).toBe(false);
  });
});
