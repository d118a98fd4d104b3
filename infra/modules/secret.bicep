// The Dataverse client secret, written into the vault. main.bicep deploys this module only when a value
// is given; otherwise the operator puts the secret after deployment (docs/deploy.md, "Put the client secret
// in the vault"), and later deployments without a value leave the vault's secret as it is.

@description('Name of the Key Vault.')
param keyVaultName string

@description('Name of the secret.')
param name string

@secure()
@description('The Dataverse client secret.')
param value string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: name
  properties: {
    value: value
    contentType: 'Dataverse application user client secret'
  }
}
